"""What session logs already hold, so that ingesting the same span twice adds nothing.

A line with the extension fields `trace_id` and `span_id` is known by that pair. A line
without them (seed format, or written by another tool) can only be known by its whole
content, which is what a seed-format line of the same span repeats byte for byte.
A log is read streaming, one line at a time, without following symbolic links and
without blocking: a session whose directory is a link, or whose log is a link, a FIFO,
a directory or anything else that is not a regular file, is refused, as the writer
(`SessionLogWriter`) refuses it, and its lines belong in the fallback session.

`IndexCache` holds the indexes of the sessions a run meets, each read once, within a
bound on the ids held in all.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from otel_token_usage.record import LOG_FILE_NAME, SessionRefusedError, session_dir_name

__all__ = ["SESSION_WEIGHT", "IndexCache", "LogIndex", "load_index", "span_key"]

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
_OPEN_LOG = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

SESSION_WEIGHT = 8
"""What one held session costs in `IndexCache`'s bound, in ids, besides its ids (the
index object, its set and the cache entry take about as much memory as 8 ids)."""


class _Ids(msgspec.Struct, gc=False):
    trace_id: str | None = None
    span_id: str | None = None


_IDS = msgspec.json.Decoder(_Ids)


def span_key(trace_id: int, span_id: int) -> int:
    """One int for a (trace id, span id) pair, both non-zero: cheaper to hold than a
    tuple of texts, and never in the range of `hash()`, so that span keys and hashes of
    whole lines can share one set."""
    return (trace_id << 64) | span_id


@dataclass(slots=True)
class LogIndex:
    """The calls one session log holds: in `known`, the `span_key` of each line with ids
    and the `hash()` of each line without (their ranges do not overlap); `idless` is how
    many lines have no ids."""

    known: set[int] = field(default_factory=set)
    idless: int = 0


def load_index(sessions_dir: Path, dir_name: str) -> LogIndex:
    """The index of `<sessions_dir>/<dir_name>/token-usage.jsonl`, empty if there is none.

    Lines that do not parse (a torn last line, bytes that are not UTF-8 in an id) hold
    no call and are passed over; bytes that are not UTF-8 elsewhere in a line do not
    hide its ids. Raises `SessionRefusedError`
    when the session directory is a symbolic link or not a directory, or the log is not
    a regular file (the writer refuses them too), and `OSError` when the log cannot be
    read."""
    index = LogIndex()
    for line in _log_lines(sessions_dir, dir_name):
        try:
            ids = _IDS.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):
            continue
        key = _key(ids)
        if key is None:
            index.known.add(hash(line.rstrip(b"\r\n")))
            index.idless += 1
        else:
            index.known.add(key)
    return index


class IndexCache:
    """The indexes of the sessions met lately, least recently used first, holding at most
    `max_ids` ids in all (each session counting `SESSION_WEIGHT` more) each time `trim()`
    has run, so that memory does not grow with the number of sessions a run meets.

    `trim()` drops the least recently used indexes past the bound, but never the most
    recently used one (a single log larger than the bound is held whole while it is
    used): a dropped index is read again from its log when its session comes back.
    `before_drop(session)` is called as an index is dropped, for the caller to write
    that session's pending lines, since the log read again must hold them. Nothing is
    dropped but by `trim()` and `forget()`, so an index in hand stays valid until the
    caller calls them. `loads` counts the logs read."""

    def __init__(
        self, sessions_dir: Path, max_ids: int, before_drop: Callable[[str], None]
    ) -> None:
        if max_ids < 1:
            raise ValueError("max_ids must be at least 1")
        self._sessions_dir = sessions_dir
        self._max_ids = max_ids
        self._before_drop = before_drop
        self._indexes: OrderedDict[str, LogIndex] = OrderedDict()
        self._held = 0
        self.loads = 0

    @property
    def held(self) -> int:
        """What is held now, in ids (the measure of `max_ids`)."""
        return self._held

    def get(self, session_id: str) -> LogIndex | None:
        """The index of `session_id` if held (it becomes the most recently used)."""
        index = self._indexes.get(session_id)
        if index is not None:
            self._indexes.move_to_end(session_id)
        return index

    def load(self, session_id: str) -> LogIndex:
        """Read the index of `session_id` from its log and hold it as the most recently
        used. Raises `SessionRefusedError` (see `load_index`) and `OSError`."""
        index = load_index(self._sessions_dir, session_dir_name(session_id))
        self.loads += 1
        self._indexes[session_id] = index
        self._held += len(index.known) + SESSION_WEIGHT
        return index

    def add(self, index: LogIndex, key: int) -> None:
        """Remember `key` in `index` (one of the held indexes)."""
        index.known.add(key)
        self._held += 1

    def forget(self, session_id: str) -> None:
        """Drop the index of `session_id`, if held, without `before_drop`."""
        index = self._indexes.pop(session_id, None)
        if index is not None:
            self._held -= len(index.known) + SESSION_WEIGHT

    def trim(self) -> None:
        """Drop least recently used indexes until the bound holds (or one is left)."""
        while self._held > self._max_ids and len(self._indexes) > 1:
            session_id, index = self._indexes.popitem(last=False)
            self._held -= len(index.known) + SESSION_WEIGHT
            self._before_drop(session_id)


def _key(ids: _Ids) -> int | None:
    if ids.trace_id is None or ids.span_id is None:
        return None
    try:
        trace_id, span_id = int(ids.trace_id, 16), int(ids.span_id, 16)
    except ValueError:
        return None
    if not (0 < trace_id < 1 << 128 and 0 < span_id < 1 << 64):
        return None  # not ids a span can have: known by content, like a line without
    return span_key(trace_id, span_id)


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
    try:
        regular = stat.S_ISREG(os.fstat(log).st_mode)
    except OSError:
        os.close(log)
        raise
    if not regular:
        os.close(log)
        raise SessionRefusedError(f"{dir_name}/{LOG_FILE_NAME} is not a regular file")
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
