"""What a session log already holds, so that ingesting the same span twice adds nothing.

A line with the extension fields `trace_id` and `span_id` is known by that pair. A line
without them (seed format, or written by another tool) can only be known by its whole
content, which is what a seed-format line of the same span repeats byte for byte.
The log is read streaming, one line at a time, and without following symbolic links
(the rule `storage` writes by).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from otel_token_usage.record import LOG_FILE_NAME, SessionRefusedError

__all__ = ["LogIndex", "load_index", "span_key"]

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_LOG = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Ids(msgspec.Struct, gc=False):
    trace_id: str | None = None
    span_id: str | None = None


_IDS = msgspec.json.Decoder(_Ids)


def span_key(trace_id: int, span_id: int) -> int:
    """One int for a (trace id, span id) pair: cheaper to hold than a tuple of texts."""
    return (trace_id << 64) | span_id


@dataclass(slots=True)
class LogIndex:
    """The calls one session log holds: `spans` by `span_key`, `contents` by the hash of
    lines that carry no ids, and how many such lines there are (`idless`)."""

    spans: set[int] = field(default_factory=set)
    contents: set[int] = field(default_factory=set)
    idless: int = 0


def load_index(sessions_dir: Path, dir_name: str) -> LogIndex:
    """The index of `<sessions_dir>/<dir_name>/token-usage.jsonl`, empty if there is none.

    Lines that do not parse (a torn last line) hold no call and are passed over. Raises
    `SessionRefusedError` when the session directory or its log is a symbolic link (the
    writer refuses them too) and `OSError` when the log cannot be read."""
    index = LogIndex()
    for line in _log_lines(sessions_dir, dir_name):
        try:
            ids = _IDS.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        key = _key(ids)
        if key is None:
            index.contents.add(hash(line.rstrip(b"\r\n")))
            index.idless += 1
        else:
            index.spans.add(key)
    return index


def _key(ids: _Ids) -> int | None:
    if ids.trace_id is None or ids.span_id is None:
        return None
    try:
        return span_key(int(ids.trace_id, 16), int(ids.span_id, 16))
    except ValueError:
        return None


def _log_lines(sessions_dir: Path, dir_name: str) -> Iterator[bytes]:
    try:
        root = os.open(sessions_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        directory = _open_at(root, dir_name, _OPEN_DIR, f"{dir_name!r} is not a plain directory")
    finally:
        os.close(root)
    if directory is None:
        return
    try:
        log = _open_at(directory, LOG_FILE_NAME, _OPEN_LOG, f"{dir_name}/{LOG_FILE_NAME} is a link")
    finally:
        os.close(directory)
    if log is None:
        return
    with open(log, "rb") as file:
        yield from file


def _open_at(dir_fd: int, name: str, flags: int, refusal: str) -> int | None:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SessionRefusedError(refusal) from exc
        raise
