"""Clocks for the fake provider: any callable returning seconds, and a manual one."""

from __future__ import annotations

import threading
from collections.abc import Callable

Clock = Callable[[], float]
"""A clock: a callable returning the current time in seconds (only differences matter)."""


class FakeClock:
    """A manual clock for tests: time stands still until `advance` moves it forward.

    Calling the instance returns the current time in seconds. Reads and advances are
    thread-safe, so the fake server's threads and the test see one consistent time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._now += seconds
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock({self()})"
