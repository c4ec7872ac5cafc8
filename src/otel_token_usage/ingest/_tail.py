"""Whole lines from input files, once or followed as they grow (`tail -F`).

A file is read in binary, line by line; a last line without its newline is held back
while the file may still grow and given out, marked incomplete, only at the end. gzip
files (by their magic bytes, not their name) are decompressed and read once, never
followed. Following notices a path that now names another file (rotation by rename and
re-create: the old file is read to its end first) and a file cut shorter than what was
read (copy-and-truncate rotation: read again from the start).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

__all__ = ["STDIN", "InputError", "InputLine", "follow", "read_once"]

STDIN = "-"
_BUFFER = 1 << 20
_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_Reader = io.BufferedReader | gzip.GzipFile


class InputError(Exception):
    """A file that cannot be read as lines of OTLP JSON (its message is one line)."""


@dataclass(frozen=True, slots=True)
class InputLine:
    """One line of `path` (1-based `number`). `complete` is False for a last line that
    has no newline; `error` says why a file could not be read on (then `data` is empty)."""

    path: str
    number: int
    data: bytes
    complete: bool = True
    error: str | None = None


class _Source:
    """One input path, its open file, and how far it has been read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = False
        self._file: _Reader | None = None
        self._ident: tuple[int, int] | None = None
        self._compressed = False
        self._sniffed = False
        self._number = 0
        self._partial = b""

    @property
    def is_open(self) -> bool:
        """True while a file is open for this path."""
        return self._file is not None

    def open(self) -> bool:
        """Open the path afresh; False while it does not exist."""
        if self.path == STDIN:
            self._file = cast(io.BufferedReader, sys.stdin.buffer)
        else:
            try:
                # A large buffer: OTLP lines (whole export batches) are often a megabyte.
                self._file = io.BufferedReader(io.FileIO(self.path, "rb"), _BUFFER)
            except FileNotFoundError:
                return False
            status = os.fstat(self._file.fileno())
            self._ident = (status.st_dev, status.st_ino)
        self._number = 0
        self._partial = b""
        self._compressed = self._sniffed = False
        return True

    def lines(self, *, final: bool) -> Iterator[InputLine]:
        """The whole lines readable now; with `final`, the file is read to its end once
        and its last line is given even without a newline."""
        if self._file is None or (not self._sniffed and not self._sniff(final=final)):
            return
        reader = self._file
        try:
            while chunk := reader.readline():
                if not chunk.endswith(b"\n"):
                    self._partial += chunk
                    continue  # at the end now; a file being written may add the rest
                self._number += 1
                yield InputLine(self.path, self._number, self._partial + chunk)
                self._partial = b""
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            self._number += 1
            yield InputLine(self.path, self._number, b"", False, f"compressed data broken: {exc}")
            self.done = True
        if final or self._compressed or self.path == STDIN:
            yield from self.rest()
            self.done = True

    def rotation(self) -> str | None:
        """ "rotated" if the path now names another file, "truncated" if the file is
        shorter than what was read, else None (also while the path is missing: a writer
        may still be adding to the renamed file until it creates the new one)."""
        if self._file is None or self._ident is None or self._compressed:
            return None
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        if (status.st_dev, status.st_ino) != self._ident:
            return "rotated"
        if status.st_size < self._file.tell():
            return "truncated"
        return None

    def restart(self) -> None:
        """Read the same file again from its start (it was truncated)."""
        if self._file is not None:
            self._file.seek(0)
        self._number = 0
        self._partial = b""

    def close(self) -> None:
        """Close the file (a held incomplete line is dropped: take `rest()` first)."""
        if self._file is not None and self.path != STDIN:
            self._file.close()
        self._file = None
        self._partial = b""

    def rest(self) -> Iterator[InputLine]:
        """The held last line that has no newline, if any, marked incomplete."""
        if self._partial.strip():
            self._number += 1
            yield InputLine(self.path, self._number, self._partial, complete=False)
        self._partial = b""

    def _sniff(self, *, final: bool) -> bool:
        """Recognise compressed or binary files by their first bytes; False while too
        few bytes are there to tell (a file being created by a writer)."""
        assert self._file is not None
        head = self._file.peek(4)[:4]
        if not final and len(head) < 4 and head[:1] in (b"", _GZIP[:1], _ZSTD[:1]):
            return False
        self._sniffed = True
        if head.startswith(_GZIP):
            self._compressed = True
            self._file = gzip.GzipFile(fileobj=self._file, mode="rb")
        elif head.startswith(_ZSTD):
            raise InputError(
                f"{self.path}: compressed with zstd (the collector's `compression: zstd`); "
                f"decompress it first: zstd -dc {self.path} | token-usage ingest -"
            )
        elif head[:1] == b"\x00":
            raise InputError(
                f"{self.path}: binary, not lines of JSON (a collector `file` exporter with "
                "`format: proto` or with compression writes length-prefixed records; "
                "use `format: json` without compression)"
            )
        return True


def read_once(paths: Iterable[str]) -> Iterator[InputLine]:
    """Every line of every path in turn, each file read to its end once.

    Raises `FileNotFoundError` (or another `OSError`) for a path that cannot be opened,
    and `InputError` for a file that is not lines of JSON."""
    for path in paths:
        source = _Source(path)
        if not source.open():
            raise FileNotFoundError(2, "No such file or directory", path)
        try:
            yield from source.lines(final=True)
        finally:
            source.close()


def follow(
    paths: Iterable[str],
    stop: threading.Event,
    *,
    poll_interval: float = 0.5,
    idle_timeout: float | None = None,
) -> Iterator[InputLine | None]:
    """The lines of `paths` as they are written, until `stop` is set or nothing new has
    come for `idle_timeout` seconds. Yields None whenever it has caught up with every
    file (a good moment to write out what was read).

    A path that does not exist yet is waited for; one that is renamed away and created
    anew is read to the end, then its successor from the start; one cut shorter is read
    again from the start. At the end, a last line still missing its newline is given
    out as incomplete. Raises `InputError` for a file that is not lines of JSON."""
    sources = [_Source(path) for path in paths]
    last_news = time.monotonic()
    try:
        while True:
            news = False
            for source in sources:
                for line in _poll(source):
                    news = True
                    yield line
                    if stop.is_set():
                        break  # the rest of a long file waits for the next run
                if stop.is_set():
                    break
            yield None
            if news:
                last_news = time.monotonic()
            if stop.is_set():
                break
            if idle_timeout is not None and time.monotonic() - last_news >= idle_timeout:
                break
            if not news:
                stop.wait(poll_interval)
        for source in sources:
            yield from source.rest()
        yield None
    finally:
        for source in sources:
            source.close()


def _poll(source: _Source) -> Iterator[InputLine]:
    if source.done:
        return
    if not source.is_open and not source.open():
        return
    yield from source.lines(final=False)
    change = source.rotation()
    if change == "truncated":
        source.restart()
        yield from source.lines(final=False)
    elif change == "rotated":
        # The writer has created the new file: the old one is complete. Read its end,
        # then the new file from its start.
        yield from source.lines(final=False)
        yield from source.rest()
        source.close()
        if source.open():
            yield from source.lines(final=False)
