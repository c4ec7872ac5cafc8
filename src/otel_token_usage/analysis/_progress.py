"""A one-line progress bar on stderr, shown only on a terminal and only once reading has
taken more than a moment (so quick runs and pipes never see it): half a second, or
`OTEL_TOKEN_USAGE_PROGRESS_DELAY_S` seconds (0: at once).

A command that writes its output while it reads (`cache`, `validate`) writes through
`Progress.guard`, which erases the bar before each write when the output goes to a
terminal too: the output never lands in the middle of the bar, and the bar comes back
below it."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["DELAY_VARIABLE", "Guarded", "Progress"]

_DELAY_S = 0.5
DELAY_VARIABLE = "OTEL_TOKEN_USAGE_PROGRESS_DELAY_S"
_EVERY_S = 0.1
_WIDTH = 30


class Progress:
    """Counts bytes read against an expected total (None: unknown) and redraws at most ten
    times a second, from `delay_s` after it was made (default: `DELAY_VARIABLE`'s value,
    else 0.5), as `label [####----] 40% 12/30 MB`.
    Disabled unless `enabled` and `stream` (default stderr) is a TTY. `close()` erases
    it."""

    def __init__(
        self,
        total: int | None,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        delay_s: float | None = None,
        label: str = "reading",
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._on = enabled and _is_tty(self._stream)
        self._label = label
        self._total = total
        self._done = 0
        self._start = time.monotonic()
        self._next = self._start + (_delay() if delay_s is None else delay_s)
        self._drawn = False

    def advance(self, amount: int) -> None:
        """Record `amount` more bytes read."""
        self._done += amount
        if not self._on:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _EVERY_S
            self._draw()

    def close(self) -> None:
        """Erase the bar, if it was drawn (the next `advance` may draw it again)."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False

    def guard(self, out: TextIO) -> TextIO | Guarded:
        """A writer to `out` that erases the bar before each write when `out` is a
        terminal too (elsewhere the two never mix, and `out` itself is returned)."""
        return Guarded(out, self) if self._on and _is_tty(out) else out

    def _draw(self) -> None:
        done_mb = self._done / 1e6
        if self._total:
            share = min(self._done / self._total, 1.0)
            filled = int(share * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            total_mb = self._total / 1e6
            text = f"{self._label} [{bar}] {share:4.0%} {done_mb:,.0f}/{total_mb:,.0f} MB"
        else:
            text = f"{self._label} {done_mb:,.0f} MB"
        self._stream.write("\r" + text)
        self._stream.flush()
        self._drawn = True


def _delay() -> float:
    try:
        value = float(os.environ.get(DELAY_VARIABLE, _DELAY_S))
    except ValueError:
        return _DELAY_S
    return value if value >= 0 else _DELAY_S


class Guarded:
    """Writes to a stream, erasing a progress bar first (see `Progress.guard`)."""

    def __init__(self, out: TextIO, bar: Progress) -> None:
        self._out = out
        self._bar = bar

    def write(self, text: str, /) -> int:
        """Erase the bar, then write `text`."""
        self._bar.close()
        return self._out.write(text)

    def flush(self) -> None:
        """Flush the stream."""
        self._out.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
