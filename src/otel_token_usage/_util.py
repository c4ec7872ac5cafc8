"""Small helpers every part of the package shares: throttled logging, a bounded memory of
recent keys, the package version, reading a field from an object or a mapping, and text
made safe to show on a terminal.

Nothing here imports OpenTelemetry, pydantic or another part of this package.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping

__all__ = [
    "DEFAULT_INTERVAL_S",
    "RecentKeys",
    "Throttle",
    "ThrottleFilter",
    "ThrottledLogger",
    "UserError",
    "field",
    "printable",
    "reinit_after_fork",
    "version",
]

DISTRIBUTION = "otel-token-usage"
DEFAULT_INTERVAL_S = 60.0


class UserError(Exception):
    """A problem with the input a person can fix (a missing path, an unreadable or wrong
    file). Its message is one line, fit to print as it is; the `token-usage` command
    prints it and exits non-zero, without a traceback."""


@functools.cache
def version() -> str:
    """The installed version of this distribution ("0.0.0" when run from a bare tree)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def field(obj: object, name: str) -> object:
    """`obj[name]` for a mapping, else `obj.name`; None when absent, when `obj` is None,
    or when reading it raises (a user's object may)."""
    if obj is None:
        return None
    try:
        if isinstance(obj, Mapping):
            return obj.get(name)
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a getter must not fail the caller
        return None


def reinit_after_fork(method: Callable[[], None]) -> None:
    """Call the bound `method` in the child after every `os.fork()`, for as long as its
    object lives (only a weak reference is kept, as the OpenTelemetry SDK's batch
    processors do).

    A forked child has one thread: a lock that another thread of the parent held at the
    fork stays held forever, and a buffer copied from the parent would be written twice.
    `method` must therefore replace locks (never acquire them) and drop what the parent
    will still write."""
    ref = weakref.WeakMethod(method)

    def after_in_child() -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=after_in_child)


class Throttle:
    """Admits each key at most once per `interval_s`, and counts what it held back.

    Thread-safe, and safe across `os.fork()` (the child gets a fresh lock); the clock
    is injectable so tests need not sleep."""

    def __init__(
        self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (time last admitted, held back since)
        self._state: dict[Hashable, tuple[float, int]] = {}
        reinit_after_fork(self.reset_after_fork)

    def admit(self, key: Hashable) -> int | None:
        """None when `key` was admitted within the interval (it is counted as held back);
        otherwise the number held back since it was last admitted."""
        now = self._clock()
        with self._lock:
            last, held = self._state.get(key, (float("-inf"), 0))
            if now - last < self._interval_s:
                self._state[key] = (last, held + 1)
                return None
            self._state[key] = (now, 0)
            return held

    def reset_after_fork(self) -> None:
        """A fresh lock (the parent's may have been held by a thread that does not exist
        in a forked child)."""
        self._lock = threading.Lock()


class ThrottledLogger:
    """Logs a message per key at most once per `interval_s`, then says how many it held
    back. Safe to call from any thread."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._throttle = Throttle(interval_s, clock)

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log `msg % args` unless `key` was logged within the interval; True if logged."""
        held = self._throttle.admit(key)
        if held is None:
            return False
        if held:
            msg += " (%d similar messages suppressed)"
            args = (*args, held)
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """`log` at WARNING."""
        return self.log(logging.WARNING, key, msg, *args, exc_info=exc_info)

    def error(self, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """`log` at ERROR."""
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)


class ThrottleFilter(logging.Filter):
    """A `logging.Filter` for other libraries' loggers: each message template of a logger
    passes at most once per interval, and the next one that passes says how many were
    held back."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        super().__init__()
        self._throttle = Throttle(interval_s)

    def filter(self, record: logging.LogRecord) -> bool:
        held = self._throttle.admit((record.name, str(record.msg)))
        if held is None:
            return False
        if held and isinstance(record.args, tuple):
            record.msg = f"{record.msg} (%d similar messages suppressed)"
            record.args = (*record.args, held)
        return True


class RecentKeys:
    """`seen(key)` is True when `key` was offered among the last `capacity` to
    `2 * capacity` distinct keys, else False (and the key is remembered).

    Two producers of one call finish within moments of each other, so remembering the
    last few thousand keys is enough to count the call once, and memory never grows with
    the run. Two generations, the older dropped whole when the newer fills: every step is
    O(1). Not thread-safe (callers hold their lock)."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._recent: set[Hashable] = set()
        self._older: set[Hashable] = set()

    def seen(self, key: Hashable) -> bool:
        """True if `key` was seen recently; otherwise remember it and return False."""
        if key in self._recent or key in self._older:
            return True
        self._recent.add(key)
        if len(self._recent) >= self._capacity:
            self._older, self._recent = self._recent, set()
        return False


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """`text` with every control character (C0 including newline and tab, DEL, C1)
    written as a `\\xNN` escape: text from a log or a span (model, provider and session
    names, paths) shown on a terminal can then never drive it (no escape sequences, no
    cursor moves, no line breaks)."""
    return text.translate(_CONTROL)
