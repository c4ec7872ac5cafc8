"""Streaming reader of session logs: one file, a session directory, a sessions tree, or stdin.

Files are read in blocks of whole lines, so memory stays bounded by the block size however
long a session is. A line that is not valid (see `_line`: the one definition every command
applies) is skipped and counted with its file and line number; blank lines are passed
over. A directory that cannot be listed or a log that cannot be read is skipped whole and
named (`BadLines.unreadable`); the rest is read. The selection (`Filters`: times,
sessions, models) is applied here too, to valid and invalid lines alike, so that every
command selects the same lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from pathlib import Path
from typing import IO, NamedTuple

from otel_token_usage._util import UserError
from otel_token_usage.record import LOG_FILE_NAME, TokenCounts, session_id_from_dir_name

from ._filter import Filters
from ._line import Line, check_line, decode_block

__all__ = [
    "STDIN",
    "STDIN_NAME",
    "AnalysisError",
    "BadLine",
    "BadLines",
    "Call",
    "LogFile",
    "find_logs",
    "iter_blocks",
    "read_calls",
    "read_lines",
]

STDIN = "-"
STDIN_NAME = "<stdin>"
_ALL = Filters()
BLOCK_SIZE = 384 << 10
WHOLE_FILE_MAX = 1 << 20
MAX_LINE = 16 << 20
_KEEP_SAMPLES = 20


class AnalysisError(UserError):
    """A problem with the input a person can fix (missing path, unreadable or empty file,
    not a session log). Its message is one line, fit to print as it is."""


class Call(NamedTuple):
    """One valid line: what the cache timeline reads of it, plus where the line is.

    `ts` is an aware datetime (its offset as written); `line` is 1-based.
    """

    ts: datetime
    session_id: str
    model: str
    provider: str
    tokens: TokenCounts
    summary_tokens: int
    segments_removed: int
    truncation_occurred: bool
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class BadLine:
    """A skipped line: file (`-` is stdin), 1-based line number and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(slots=True)
class BadLines:
    """What reading met besides the selected calls: the skipped lines (`count`, with the
    first few kept for messages, so memory stays bounded), every directory or log
    skipped whole because it could not be read (`path: reason`), how many valid lines
    were read in all (selected or not: `valid`) and how many invalid lines were passed
    over because they are outside the selection (`outside`, see `Filters.may_hold`)."""

    count: int = 0
    samples: list[BadLine] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    valid: int = 0
    outside: int = 0

    def add(self, bad: BadLine) -> None:
        """Count one skipped line."""
        self.count += 1
        if len(self.samples) < _KEEP_SAMPLES:
            self.samples.append(bad)

    def merge(self, other: BadLines) -> None:
        """Add another counter's lines to this one."""
        self.count += other.count
        room = _KEEP_SAMPLES - len(self.samples)
        if room > 0:
            self.samples.extend(other.samples[:room])
        self.unreadable.extend(other.unreadable)
        self.valid += other.valid
        self.outside += other.outside

    @property
    def incomplete(self) -> bool:
        """Whether anything was left out: a skipped line or an unreadable path."""
        return bool(self.count or self.unreadable)


@dataclass(frozen=True, slots=True)
class LogFile:
    """One session log to read. `path` is `-` for stdin; `size` is None when unknown.

    `session_hint` is the session id its directory name stands for, used to attribute bad
    lines of a file in which no line can be read. `error` is set (and `path` is a
    directory) for a part of a tree that could not be listed: reading it reports it as
    unreadable. `name`, when set, is what messages call it instead of its path (a copy
    of stdin is still `<stdin>`).
    """

    path: str
    size: int | None
    session_hint: str | None
    error: str | None = None
    name: str | None = None


def find_logs(source: str | os.PathLike[str]) -> list[LogFile]:
    """The logs below `source`: itself if a file, its `token-usage.jsonl` if a session
    directory, every `token-usage.jsonl` below it if a sessions tree (symbolic links are
    not followed), or stdin for `-`. Sorted by path; a directory of the tree that cannot be
    listed is in the list as a `LogFile` with an `error`. Raises `AnalysisError` when
    there is nothing to read."""
    text = os.fspath(source)
    if text == STDIN:
        return [LogFile(STDIN, None, None)]
    path = Path(text)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AnalysisError(f"{text}: no such file or directory") from None
    except OSError as error:
        raise AnalysisError(f"{text}: {error.strerror or error}") from None
    if not path.is_dir():
        return [_log_file(path, info.st_size)]
    direct = path / LOG_FILE_NAME
    if direct.is_file():
        return [_log_file(direct, direct.stat().st_size)]
    found: list[LogFile] = []
    errors: list[OSError] = []
    _walk(str(path), found, errors)
    if errors and not found:
        first = errors[0]
        raise AnalysisError(f"{first.filename}: {first.strerror or first}")
    found.extend(LogFile(str(bad.filename), None, None, str(bad.strerror or bad)) for bad in errors)
    if not found:
        raise AnalysisError(
            f"{text}: no {LOG_FILE_NAME} in it (not a session directory or sessions tree)"
        )
    found.sort(key=lambda log: log.path)
    return found


def _walk(root: str, found: list[LogFile], errors: list[OSError]) -> None:
    # Every regular-file log below `root`, symbolic links neither followed nor taken: one
    # directory listing per directory and one lstat per log (a tree may hold thousands).
    # A log that is not a regular file (a symbolic link, a directory, a FIFO) is an error
    # to report, not something to pass over in silence.
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name == LOG_FILE_NAME:
                        if entry.is_file(follow_symlinks=False):
                            size = entry.stat(follow_symlinks=False).st_size
                            name = os.path.basename(directory)
                            hint = session_id_from_dir_name(name) if name else None
                            found.append(LogFile(entry.path, size, hint))
                        else:
                            errors.append(OSError(0, _NOT_REGULAR, entry.path))
                    elif entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError as error:
            errors.append(error)


_NOT_REGULAR = "not a regular file (symbolic links are not followed)"


def _log_file(path: Path, size: int) -> LogFile:
    hint = session_id_from_dir_name(path.parent.name) if path.parent.name else None
    return LogFile(str(path), size, hint)


def iter_blocks(log: LogFile, block_size: int | None = None) -> Iterator[tuple[int, int, bytes]]:
    """Yield `(first line number, number of lines, block)`; each block holds whole
    `\\n`-ended lines, but the last may end in a line without newline (a torn last line).

    Blocks are read `block_size` bytes at a time; by default a file of up to 1 MiB in one
    read, a longer one 384 KiB at a time. A line longer than 16 MiB is yielded on its
    own, cut short, so that it is counted as a bad line without being held in memory.
    Raises `OSError` if the file cannot be opened or read.
    """
    if block_size is None:
        # Reads of 1 MiB and more made the allocator map fresh pages for every block, and
        # those page faults cost as much as the reading: longer files go in smaller blocks.
        size = log.size
        block_size = size + 1 if size is not None and size < WHOLE_FILE_MAX else BLOCK_SIZE
    if log.error is not None:
        raise OSError(log.error)
    with _open(log) as stream:
        line_no = 1
        carry = b""
        while True:
            chunk = stream.read(block_size)
            if not chunk:
                break
            block = carry + chunk if carry else chunk
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                carry = block
                if len(carry) > MAX_LINE:
                    carry = yield from _skip_long_line(stream, line_no, carry, block_size)
                    line_no += 1
                continue
            if cut == len(block):
                carry = b""
            else:
                carry = block[cut:]
                block = block[:cut]
            lines = _count_lines(block)
            yield line_no, lines, block
            line_no += lines
        if carry:
            yield line_no, 1, carry


def _count_lines(block: bytes) -> int:
    # The newlines in `block`. `bytes.count` checks byte by byte; `replace` first finds
    # them with memchr, in C, then copies what is between: on lines of hundreds of bytes
    # that is several times faster.
    return len(block) - len(block.replace(b"\n", b""))


def _skip_long_line(
    stream: IO[bytes], line_no: int, head: bytes, block_size: int
) -> Generator[tuple[int, int, bytes], None, bytes]:
    # Emit a cut-short copy (it will not parse), then drop bytes up to the next newline.
    yield line_no, 1, head[:64] + b"\n"
    while True:
        chunk = stream.read(block_size)
        if not chunk:
            return b""
        cut = chunk.find(b"\n") + 1
        if cut:
            return chunk[cut:]


def _open(log: LogFile) -> IO[bytes]:
    if log.path == STDIN:
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    return open(log.path, "rb")


def read_lines(
    log: LogFile,
    bad: BadLines,
    on_block: Callable[[int], None] | None = None,
    on_bad: Callable[[BadLine], None] | None = None,
    *,
    blank_is_bad: bool = False,
    filters: Filters = _ALL,
) -> Iterator[tuple[Sequence[int], list[Line]]]:
    """The selected valid lines of `log` (all, without `filters`), a block at a time:
    (their line numbers, the lines; the lines may be none when a block holds none).

    Every other line that may belong to the selection is counted in `bad` (and given to
    `on_bad`, if set), but blank lines unless `blank_is_bad` (they are passed over
    otherwise); a log that cannot be read (or stops being readable) is added to
    `bad.unreadable` and read no further. `on_block` is told the size of each block
    read. This is the one reader of every command: all apply the same definition of a
    valid line (`_line`) and of the selection (`Filters`).
    """
    name = display_name(log)
    try:
        for first_line, lines, block in iter_blocks(log):
            if on_block is not None:
                on_block(len(block))
            records = decode_block(block, lines)
            if records is not None:
                bad.valid += lines
                yield _selected(filters, range(first_line, first_line + lines), records)
                continue
            numbers: list[int] = []
            records = []
            for number, raw in enumerate(_split(block), first_line):
                if not raw.strip():
                    if not blank_is_bad:
                        continue
                    found: Line | str = "blank line"
                else:
                    found = check_line(raw)
                if isinstance(found, str):
                    if not filters.may_hold(raw):
                        bad.outside += 1
                        continue
                    skipped = BadLine(name, number, found)
                    bad.add(skipped)
                    if on_bad is not None:
                        on_bad(skipped)
                else:
                    numbers.append(number)
                    records.append(found)
            bad.valid += len(records)
            # Perhaps none: the caller hears of the bad lines now.
            yield _selected(filters, numbers, records)
    except OSError as error:
        bad.unreadable.append(f"{name}: {error.strerror or error}")


def _selected(
    filters: Filters, numbers: Sequence[int], records: list[Line]
) -> tuple[Sequence[int], list[Line]]:
    mask = filters.selected(records) if records else None
    if mask is None:
        return numbers, records
    return list(compress(numbers, mask)), list(compress(records, mask))


def _split(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    return lines


def read_calls(
    logs: Iterable[LogFile],
    bad: BadLines | None = None,
    *,
    filters: Filters = _ALL,
    on_block: Callable[[int], None] | None = None,
) -> Iterator[Call]:
    """Every selected valid line of `logs`, in file order, as `Call`s; other lines are
    counted in `bad` (if given) with file and line number, unreadable logs named there.
    `on_block` is told the size of each block read. Memory is bounded by one block."""
    sink = bad if bad is not None else BadLines()
    for log in logs:
        name = display_name(log)
        for numbers, records in read_lines(log, sink, on_block, filters=filters):
            for number, record in zip(numbers, records, strict=True):
                yield Call(
                    record.ts,
                    record.session_id,
                    record.model,
                    record.provider,
                    TokenCounts.of(record),
                    record.summary_tokens,
                    record.segments_removed,
                    record.truncation_occurred,
                    name,
                    number,
                )


def display_name(log: LogFile) -> str:
    """How messages name `log`: its `name`, its path, or `<stdin>`."""
    if log.name is not None:
        return log.name
    return STDIN_NAME if log.path == STDIN else log.path
