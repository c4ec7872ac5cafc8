"""Streaming reader of session logs: one file, a session directory, a sessions tree, or stdin.

Files are read in blocks of whole lines, so memory stays bounded by the block size however
long a session is. A line that cannot be used (torn by a crash, garbage, a field the
analysis needs missing or of the wrong type) is skipped and counted with its file and line
number; blank lines are ignored. Full schema checks are `validate`'s job
(`TokenUsageRecord` per line); the analysis checks, in C via msgspec, only the fields it
reads, because it must stream millions of lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import IO, Annotated, Any, NamedTuple

import msgspec

from otel_token_usage._util import UserError
from otel_token_usage.record import (
    EXTENSION_FIELDS,
    LOG_FILE_NAME,
    SEED_FIELDS,
    session_id_from_dir_name,
)

__all__ = [
    "STDIN",
    "AnalysisError",
    "BadLine",
    "BadLines",
    "Call",
    "LogFile",
    "decode_block",
    "find_logs",
    "iter_blocks",
    "parse_lines",
    "read_calls",
]

STDIN = "-"
BLOCK_SIZE = 384 << 10
WHOLE_FILE_MAX = 1 << 20
MAX_LINE = 16 << 20
_KEEP_SAMPLES = 20


class AnalysisError(UserError):
    """A problem with the input a person can fix (missing path, unreadable or empty file,
    not a session log). Its message is one line, fit to print as it is."""


def _field(name: str) -> str:
    # Field names are the record's; a rename there fails here at import, not silently later.
    if name not in SEED_FIELDS and name not in EXTENSION_FIELDS:
        raise RuntimeError(f"record has no field {name!r}")
    return name


_Count = Annotated[int, msgspec.Meta(ge=0)]
_TYPES: dict[str, Any] = {
    _field("ts"): str,
    _field("session_id"): str,
    _field("model"): str,
    _field("provider"): str,
    _field("input_tokens"): _Count,
    _field("cache_read_input_tokens"): _Count,
    _field("cache_creation_input_tokens"): _Count,
    _field("output_tokens"): _Count,
    _field("thinking_tokens"): _Count,
    _field("summary_tokens"): _Count,
    _field("segments_removed"): _Count,
    _field("truncation_occurred"): bool,
}
_WRITE_1H = _field("cache_creation_1h_input_tokens")
# The fields the analysis reads, declared in line order (the decoder is fastest when
# they come as declared); every other field of a line is skipped unread. Integers are
# strict (no bools, no floats), strings are strings; the 1-hour write count is optional.
_Line = msgspec.defstruct(
    "_Line",
    [
        *((name, _TYPES[name]) for name in SEED_FIELDS if name in _TYPES),
        (_WRITE_1H, _Count | None, None),
    ],
    gc=False,
    frozen=True,
)
_LINE = msgspec.json.Decoder(_Line)
_CALL_ORDER = attrgetter(*_TYPES, _WRITE_1H)


class Call(NamedTuple):
    """One usable line: the fields the analysis reads, plus where the line is.

    Token counts are non-negative ints; `cache_creation_1h_input_tokens` is 0 when the
    line does not carry that extension field. `line` is 1-based.
    """

    ts: str
    session_id: str
    model: str
    provider: str
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    output_tokens: int
    thinking_tokens: int
    summary_tokens: int
    segments_removed: int
    truncation_occurred: bool
    cache_creation_1h_input_tokens: int
    path: str
    line: int

    @property
    def prompt_tokens(self) -> int:
        """Fresh input plus cache reads plus cache writes: the whole prompt."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


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
    """Counts skipped lines and keeps the first few for messages (memory stays bounded)."""

    count: int = 0
    samples: list[BadLine] = field(default_factory=list)

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


@dataclass(frozen=True, slots=True)
class LogFile:
    """One session log to read. `path` is `-` for stdin; `size` is None when unknown.

    `session_hint` is the session id its directory name stands for, used to attribute bad
    lines of a file in which no line can be read.
    """

    path: str
    size: int | None
    session_hint: str | None


def find_logs(source: str | os.PathLike[str]) -> list[LogFile]:
    """The logs below `source`: itself if a file, its `token-usage.jsonl` if a session
    directory, every `token-usage.jsonl` below it if a sessions tree (symbolic links are
    not followed), or stdin for `-`. Sorted by path. Raises `AnalysisError` when there is
    nothing to read."""
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
    if not found:
        raise AnalysisError(
            f"{text}: no {LOG_FILE_NAME} in it (not a session directory or sessions tree)"
        )
    found.sort(key=lambda log: log.path)
    return found


def _walk(root: str, found: list[LogFile], errors: list[OSError]) -> None:
    # Every regular-file log below `root`, symbolic links neither followed nor taken: one
    # directory listing per directory and one lstat per log (a tree may hold thousands).
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.name == LOG_FILE_NAME and entry.is_file(follow_symlinks=False):
                        size = entry.stat(follow_symlinks=False).st_size
                        name = os.path.basename(directory)
                        hint = session_id_from_dir_name(name) if name else None
                        found.append(LogFile(entry.path, size, hint))
        except OSError as error:
            errors.append(error)


def _log_file(path: Path, size: int) -> LogFile:
    hint = session_id_from_dir_name(path.parent.name) if path.parent.name else None
    return LogFile(str(path), size, hint)


def iter_blocks(log: LogFile, block_size: int | None = None) -> Iterator[tuple[int, int, bytes]]:
    """Yield `(first line number, number of lines, block)`; each block holds whole
    `\\n`-ended lines, but the last may end in a line without newline (a torn last line).

    Blocks are read `block_size` bytes at a time; by default a file of up to 1 MiB in one
    read, a longer one 384 KiB at a time. A line longer than 16 MiB is yielded on its
    own, cut short, so that it is counted as a bad line without being held in memory.
    Raises `AnalysisError` if the file cannot be read.
    """
    if block_size is None:
        # Reads of 1 MiB and more made the allocator map fresh pages for every block, and
        # those page faults cost as much as the reading: longer files go in smaller blocks.
        size = log.size
        block_size = size + 1 if size is not None and size < WHOLE_FILE_MAX else BLOCK_SIZE
    try:
        stream = _open(log)
    except OSError as error:
        raise AnalysisError(f"{log.path}: {error.strerror or error}") from None
    with stream:
        line_no = 1
        carry = b""
        while True:
            try:
                chunk = stream.read(block_size)
            except OSError as error:
                raise AnalysisError(f"{log.path}: {error.strerror or error}") from None
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


def decode_block(block: bytes, lines: int) -> list[Any] | None:
    """Decode a block of `lines` whole lines in one go into records whose attributes are
    `Call`'s fields (`cache_creation_1h_input_tokens` may be None), or None if any line is
    not a usable record (the caller then goes line by line to find which).

    One C call decodes and type-checks the block, skipping the fields the analysis does not
    read; the per-line path applies the same checks, so both agree on every line.
    """
    try:
        records: list[Any] = _LINE.decode_lines(block)
    except msgspec.DecodeError:
        return None
    # Blank lines are skipped by the decoder and a line holding two values yields two, so
    # a count mismatch sends the block to the per-line path, which tells them apart.
    return records if len(records) == lines else None


def parse_lines(path: str, first_line: int, block: bytes, bad: BadLines) -> Iterator[Call]:
    """The usable lines of a block one by one; every other non-blank line is added to
    `bad` with its line number."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    for offset, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = _LINE.decode(line)
        except msgspec.DecodeError as error:
            bad.add(BadLine(path, first_line + offset, _reason(error)))
            continue
        values = _CALL_ORDER(record)
        if values[-1] is None:
            values = (*values[:-1], 0)
        yield Call._make((*values, path, first_line + offset))


def _reason(error: msgspec.DecodeError) -> str:
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        return text.replace("`$.", "`")
    if "truncated" in text:
        return "not JSON: the line ends early (a torn line)"
    return f"not JSON: {text}"


def read_calls(logs: Iterable[LogFile], bad: BadLines | None = None) -> Iterator[Call]:
    """Every usable line of `logs`, in file order, as `Call`s; other lines are counted in
    `bad` (if given) with file and line number. Memory is bounded by one block."""
    sink = bad if bad is not None else BadLines()
    for log in logs:
        for first_line, _lines, block in iter_blocks(log):
            yield from parse_lines(_display(log), first_line, block, sink)


def _display(log: LogFile) -> str:
    return "<stdin>" if log.path == STDIN else log.path
