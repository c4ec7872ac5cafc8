"""The ingestion core: OTLP JSON lines in, new session-log lines out, each call once.

Every span goes through `extract.record_line`, the extraction the in-process exporter
uses, and every line through `record.encode_lines` and `storage.SessionLogWriter`, so a
log built from files equals, byte for byte, the log the exporter writes for the same
spans. What keeps a second run from adding anything is the rule in `ingest`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_token_usage import semconv as a
from otel_token_usage._util import RecentKeys, UserError
from otel_token_usage.export import LineFormat, SessionLogWriter, call_key, record_line
from otel_token_usage.record import SessionRefusedError, encode_lines, session_dir_name
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION

from ._log_index import LogIndex, load_index, span_key
from ._otlp_json import OtlpLineError, SpanParts, decode_line
from ._tail import InputLine

__all__ = ["MAX_REPORTED", "IngestError", "IngestStats", "Ingestor"]

MAX_REPORTED = 100
"""Unreadable lines reported one by one; past this they are only counted."""

_MAX_BUFFERED = 2048
_MAX_INDEXES = 256


class IngestError(UserError):
    """A problem a person can fix (missing file, wrong file format, bad setting); its
    message is one line."""


@dataclass
class IngestStats:
    """What a run read and wrote."""

    lines: int = 0
    """OTLP JSON lines read (blank lines not counted)."""
    spans: int = 0
    calls: int = 0
    """Spans that are LLM calls."""
    written: int = 0
    present: int = 0
    """Calls already in their session's log (or earlier in this run)."""
    duplicates: int = 0
    """Calls whose session and `gen_ai.response.id` another span of this run had."""
    bad_lines: int = 0
    bad_spans: int = 0
    sessions: set[str] = field(default_factory=set)
    """Sessions whose logs were appended to."""

    @property
    def skipped(self) -> int:
        """Unreadable lines and spans: non-zero means the exit status is 1."""
        return self.bad_lines + self.bad_spans

    def summary(self) -> str:
        """One line for people, e.g. `5 new lines in 2 sessions from 7 LLM calls (40 spans,
        3 OTLP lines); 2 already there, 0 duplicate response ids`."""
        text = (
            f"{_count(self.written, 'new line')} in {_count(len(self.sessions), 'session')} "
            f"from {_count(self.calls, 'LLM call')} ({_count(self.spans, 'span')}, "
            f"{_count(self.lines, 'OTLP line')}); {self.present} already there, "
            f"{_count(self.duplicates, 'duplicate response id')}"
        )
        skipped = [
            _count(number, what)
            for number, what in ((self.bad_lines, "unreadable line"), (self.bad_spans, "span"))
            if number
        ]
        if skipped:
            text += f"; skipped {' and '.join(skipped)}"
        return text


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'' if number == 1 else 's'}"


def _ignore(_message: str) -> None:
    pass


class Ingestor:
    """Turns OTLP JSON lines into lines of session logs below `sessions_dir`.

    `feed()` takes one input line; what it finds is buffered and appended, one write per
    session, by `flush()` (and whenever enough is buffered). It never writes a call that
    its session's log already holds (see the module docstring for the rule). `report`
    receives one line for every unreadable input line or span (up to `MAX_REPORTED`) and
    for every warning. Writing errors raise `OSError`; what was appended stays appended.
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
        report: Callable[[str], None] = _ignore,
    ) -> None:
        self.sessions_dir = Path(sessions_dir)
        self.stats = IngestStats()
        self._fallback = fallback_session
        self._extended = line_format == "extended"
        self._report = report
        self._writer = SessionLogWriter(
            sessions_dir, dir_mode=dir_mode, file_mode=file_mode, max_open_files=max_open_files
        )
        self._responses = RecentKeys()
        self._targets: dict[str, str] = {}
        self._indexes: OrderedDict[str, LogIndex] = OrderedDict()
        self._buffer: dict[str, list[Any]] = {}
        self._buffered = 0
        self._reported = 0
        self._warned: set[str] = set()

    def feed(self, line: InputLine) -> None:
        """Read one input line: its LLM calls are buffered, its problems reported."""
        where = f"{line.path}:{line.number}"
        if line.error is not None:
            self.stats.bad_lines += 1
            self._problem(f"{where}: {line.error}; the rest of the file is skipped")
            return
        if not line.data.strip():
            return
        self.stats.lines += 1
        try:
            spans, problems = decode_line(line.data)
        except OtlpLineError as exc:
            self.stats.bad_lines += 1
            if not line.complete:
                self._problem(
                    f"{where}: truncated OTLP JSON line (the file ends inside it); skipped"
                )
            else:
                self._problem(f"{where}: {exc}; skipped")
            return
        for problem in problems:
            self.stats.bad_spans += 1
            self._problem(f"{where}: {problem}")
        for span in spans:
            self._add(span)

    def flush(self) -> None:
        """Append what is buffered: one write per session."""
        while self._buffer:
            target, lines = self._buffer.popitem()
            self._buffered -= len(lines)
            data = encode_lines(lines)
            try:
                self._writer.append(target, data)
            except SessionRefusedError as exc:
                self._refused(target, exc)
                target = self._fallback
                self._writer.append(target, data)
            self.stats.written += len(lines)
            self.stats.sessions.add(target)

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

    def _add(self, span: SpanParts) -> None:
        self.stats.spans += 1
        attrs, end_ns, start_ns, trace_id, span_id = span
        line = record_line(
            attrs, end_ns, start_ns, trace_id, span_id, self._fallback, self._extended
        )
        if line is None:
            return
        self.stats.calls += 1
        call = call_key(line.session_id, attrs.get(a.GEN_AI_RESPONSE_ID))
        if call is not None and self._responses.seen(call):
            self.stats.duplicates += 1
            return
        target, index = self._target(line.session_id)
        key = span_key(trace_id, span_id) if trace_id is not None and span_id is not None else None
        if key is not None and key in index.spans:
            self.stats.present += 1
            return
        written = None if key is not None and self._extended else _content(line)
        if written is not None and written in index.contents:
            self.stats.present += 1
            return
        if index.idless and self._extended:
            seed = record_line(attrs, end_ns, start_ns, None, None, self._fallback, False)
            if _content(seed) in index.contents:
                self.stats.present += 1
                return
        if key is not None:
            index.spans.add(key)
        elif written is not None:
            index.contents.add(written)
        self._buffer.setdefault(target, []).append(line)
        self._buffered += 1
        if self._buffered >= _MAX_BUFFERED:
            self.flush()

    def _target(self, session_id: str) -> tuple[str, LogIndex]:
        """The session whose log gets this session's lines (itself, or the fallback
        when it cannot have a log of its own), and that log's index."""
        target = self._targets.get(session_id, session_id)
        index = self._indexes.get(target)
        if index is not None:
            self._indexes.move_to_end(target)
            return target, index
        try:
            index = self._load(target)
        except SessionRefusedError as exc:
            if target == self._fallback:
                raise IngestError(f"fallback session {target!r}: {exc}") from None
            self._refused(target, exc)
            target = self._fallback
            index = self._indexes.get(target)
            if index is None:
                index = self._load(target)
        if len(self._targets) >= 4096:
            self._targets.clear()
        self._targets[session_id] = target
        return target, index

    def _load(self, target: str) -> LogIndex:
        index = load_index(self.sessions_dir, session_dir_name(target))
        if index.idless and target not in self._warned:
            self._warned.add(target)
            self._warn(
                f"session {target!r}: {index.idless} lines of its log have no span_id "
                "(seed format); they are recognised by their whole content only"
            )
        if len(self._indexes) >= _MAX_INDEXES:
            # An index is reloaded from the log when needed again: write first.
            self.flush()
            self._indexes.popitem(last=False)
        self._indexes[target] = index
        return index

    def _refused(self, session_id: str, exc: Exception) -> None:
        self._warn(
            f"session {session_id!r} cannot have a log of its own ({exc}); "
            f"its lines go to {self._fallback!r}"
        )

    def _problem(self, message: str) -> None:
        self._reported += 1
        if self._reported <= MAX_REPORTED:
            self._report(message)
        elif self._reported == MAX_REPORTED + 1:
            self._report("more unreadable lines: counted, not shown")

    def _warn(self, message: str) -> None:
        self._report(message)


def _content(line: Any) -> int:
    return hash(encode_lines([line]).rstrip(b"\n"))
