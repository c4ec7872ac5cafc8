"""The ingestion core: OTLP JSON lines in, new session-log lines out, each call once.

Every span goes through `extract.record_line`, the extraction the in-process exporter
uses, and every line through `record.encode_lines` and `storage.SessionLogWriter`, so a
log built from files equals, byte for byte, the log the exporter writes for the same
spans. What keeps a second run from adding anything is the rule in `ingest`.

Work per span is bounded and small: `_calls.Extraction` turns each input line into its
calls; a session's log is read once, when the run first meets the session, into an
index held in `IndexCache`; its new lines are gathered, across input lines, and
appended in one write per session when `max_pending_bytes` are gathered, when the
reader has caught up (following), and at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from otel_token_usage._util import RecentKeys, UserError
from otel_token_usage.export import LineFormat, SessionLogWriter
from otel_token_usage.record import SessionRefusedError
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION

from ._calls import Call, Extracted, Extraction
from ._log_index import IndexCache, LogIndex
from ._stats import IngestStats
from ._tail import InputLine

__all__ = [
    "DEFAULT_MAX_HELD_IDS",
    "DEFAULT_MAX_PENDING_BYTES",
    "MAX_REPORTED",
    "IngestError",
    "IngestStats",
    "Ingestor",
]

MAX_REPORTED = 100
"""Unreadable lines reported one by one; past this they are only counted."""

DEFAULT_MAX_HELD_IDS = 500_000
"""Ids of calls already in the logs held at once (about 100 bytes each)."""

DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024
"""New lines gathered before they are written (one write per session)."""

_MAX_REFUSED = 4096


class IngestError(UserError):
    """A problem a person can fix (missing file, wrong file format, bad setting); its
    message is one line."""


def _ignore(_message: str) -> None:
    pass


class _Pending:
    """A session's new lines, encoded, waiting for their one write."""

    __slots__ = ("data", "lines")

    def __init__(self) -> None:
        self.data = bytearray()
        self.lines = 0


class Ingestor:
    """Turns OTLP JSON lines into lines of session logs below `sessions_dir`.

    `feed()` takes one input line; the new lines it finds are gathered by session and
    appended, one write per session, by `flush()` (and whenever `max_pending_bytes` are
    gathered). It never writes a call that its session's log already holds (see the
    module docstring of `otel_token_usage.ingest` for the rule); a session's lines keep
    the order of the input. Memory is bounded whatever the number of sessions: at most
    `max_held_ids` ids of logged calls (see `IndexCache`; checked after each input line
    and before a log is read), `max_pending_bytes` of new lines, and the last few
    thousand response ids.

    With `shard=(k, n)` only the calls of sessions with `shard_of(session, n) == k` are
    ingested: `n` processes, one per shard, can share the input and the sessions
    directory and write exactly the logs one process would.

    `report` receives one line for every unreadable input line or span (up to
    `MAX_REPORTED`) and for every warning. Writing errors raise `OSError`; what was
    appended stays appended.
    """

    def __init__(
        self,
        sessions_dir: str | os.PathLike[str],
        *,
        fallback_session: str = DEFAULT_FALLBACK_SESSION,
        line_format: LineFormat = "extended",
        dir_mode: int = 0o700,
        file_mode: int = 0o600,
        max_open_files: int = 128,
        max_held_ids: int = DEFAULT_MAX_HELD_IDS,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        shard: tuple[int, int] | None = None,
        report: Callable[[str], None] = _ignore,
    ) -> None:
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard {shard[0]}/{shard[1]}: not 0 <= k < n")
        self.sessions_dir = Path(sessions_dir)
        self.stats = IngestStats()
        self._fallback = fallback_session
        self._extended = line_format == "extended"
        self.extraction = Extraction(fallback_session, self._extended, shard)
        """How this ingestor makes lines from spans."""
        self._report = report
        self._writer = SessionLogWriter(
            sessions_dir, dir_mode=dir_mode, file_mode=file_mode, max_open_files=max_open_files
        )
        self._indexes = IndexCache(self.sessions_dir, max_held_ids, self._write_pending)
        self._responses = RecentKeys()
        self._refused_sessions: dict[str, str] = {}
        self._pending: dict[str, _Pending] = {}
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        self._reported = 0
        self._warned = RecentKeys()
        self._session_logs: set[str] = set()

    @property
    def held_ids(self) -> int:
        """Ids of logged calls held now (bounded by `max_held_ids`, see `IndexCache`)."""
        return self._indexes.held

    def feed(self, line: InputLine) -> None:
        """Read one input line: its LLM calls are gathered, its problems reported."""
        self.apply(line, self.extraction.extract_input(line))

    def apply(self, line: InputLine, extracted: Extracted | None) -> None:
        """`feed`, for a line whose calls `extraction.extract_input` has found."""
        where = f"{line.path}:{line.number}"
        if line.error is not None:
            self.stats.bad_lines += 1
            self._problem(f"{where}: {line.error}; the rest of the file is skipped")
            return
        if extracted is None:
            return
        stats = self.stats
        stats.lines += 1
        if extracted.error is not None:
            stats.bad_lines += 1
            if not line.complete:
                self._problem(
                    f"{where}: truncated OTLP JSON line (the file ends inside it); skipped"
                )
            elif extracted.log_line:
                self._session_log(line.path, where)
            else:
                self._problem(f"{where}: {extracted.error}; skipped")
            return
        stats.spans += extracted.spans
        stats.calls += extracted.calls
        stats.other_shard += extracted.other_shard
        for problem in extracted.problems:
            stats.bad_spans += 1
            self._problem(f"{where}: {problem}")
        for call in extracted.found:
            self._add(call, line.data)
        # Here, with no index in hand, is where indexes may be set aside.
        self._indexes.trim()

    def flush(self) -> None:
        """Append what is gathered: one write per session."""
        while self._pending:
            self._write_pending(next(iter(self._pending)))

    def close(self) -> None:
        """Flush, then close every log. Idempotent."""
        try:
            self.flush()
        finally:
            self._writer.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _add(self, call: Call, data_in: bytes) -> None:
        session_id, same_call, key, data, place = call
        # One call seen by two producers has one response id (`call_key`).
        if same_call is not None and self._responses.seen(same_call):
            self.stats.duplicates += 1
            return
        # The session whose log gets these lines (itself, or the fallback when it cannot
        # have a log of its own), and that log's index.
        target = self._refused_sessions.get(session_id, session_id)
        index = self._indexes.get(target)
        if index is None:
            target, index = self._load_target(target)
        if key is not None and key in index.known:
            self.stats.present += 1
            return
        if key is None or not self._extended:
            # Seed-format output carries no ids: the log will know the line by content.
            content = hash(data[:-1])
            if content in index.known:
                self.stats.present += 1
                return
            if key is None:
                key = content
        if index.idless and self._extended:
            # The log has seed-format lines: this call's may be one of them.
            seed = self.extraction.seed_line(data_in, place)
            if seed is not None and hash(seed[:-1]) in index.known:
                self.stats.present += 1
                return
        self._indexes.add(index, key)
        pending = self._pending.get(target)
        if pending is None:
            pending = self._pending[target] = _Pending()
        pending.data += data
        pending.lines += 1
        self._pending_bytes += len(data)
        if self._pending_bytes >= self._max_pending_bytes:
            self.flush()

    def _load_target(self, target: str) -> tuple[str, LogIndex]:
        """Read the index of `target`'s log; when `target` cannot have a log of its own,
        the fallback session and its index."""
        self._indexes.trim()
        try:
            index = self._load(target)
        except SessionRefusedError as exc:
            if target == self._fallback:
                raise self._fallback_refused(exc) from None
            self._refused(target, exc)
            target = self._fallback
            try:
                index = self._indexes.get(target) or self._load(target)
            except SessionRefusedError as exc:
                raise self._fallback_refused(exc) from None
        return target, index

    def _load(self, target: str) -> LogIndex:
        index = self._indexes.load(target)
        self.stats.logs_read = self._indexes.loads
        if index.idless and not self._warned.seen(target):
            self._warn(
                f"session {target!r}: {index.idless} lines of its log have no span_id "
                "(seed format); they are recognised by their whole content only"
            )
        return index

    def _write_pending(self, target: str) -> None:
        """Append the gathered lines of `target` in one write."""
        pending = self._pending.pop(target, None)
        if pending is None:
            return
        self._pending_bytes -= len(pending.data)
        data = bytes(pending.data)
        try:
            self._writer.append(target, data)
        except SessionRefusedError as exc:
            # Refused only now (the log changed since it was read): the fallback log
            # takes these lines and what it had pending, and both indexes are read again
            # when next needed, since the fallback's no longer says all its log holds.
            if target == self._fallback:
                raise self._fallback_refused(exc) from None
            self._refused(target, exc)
            self._indexes.forget(target)
            fallback = self._pending.pop(self._fallback, None)
            if fallback is not None:
                self._pending_bytes -= len(fallback.data)
                data = bytes(fallback.data) + data
                self.stats.written += fallback.lines
            target = self._fallback
            try:
                self._writer.append(target, data)
            except SessionRefusedError as exc:
                raise self._fallback_refused(exc) from None
            self._indexes.forget(target)
        self.stats.written += pending.lines
        self.stats.writes += 1
        self.stats.appended(target)

    def _refused(self, session_id: str, exc: Exception) -> None:
        if len(self._refused_sessions) >= _MAX_REFUSED:
            self._refused_sessions.clear()
        self._refused_sessions[session_id] = self._fallback
        self._warn(
            f"session {session_id!r} cannot have a log of its own ({exc}); "
            f"its lines go to {self._fallback!r}"
        )

    def _fallback_refused(self, exc: Exception) -> IngestError:
        return IngestError(f"fallback session {self._fallback!r}: {exc}")

    def _session_log(self, path: str, where: str) -> None:
        """A session log handed to ingest: said once per file, its lines skipped."""
        if path in self._session_logs:
            return
        self._session_logs.add(path)
        self._problem(
            f"{where}: this file is a token-usage session log, not OTLP JSON traces "
            "(ingest reads what a collector's file exporter writes); its lines are skipped"
        )

    def _problem(self, message: str) -> None:
        self._reported += 1
        if self._reported <= MAX_REPORTED:
            self._report(message)
        elif self._reported == MAX_REPORTED + 1:
            self._report("more unreadable lines: counted, not shown")

    def _warn(self, message: str) -> None:
        self._report(message)
