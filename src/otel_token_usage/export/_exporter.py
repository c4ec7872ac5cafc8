"""`TokenUsageSpanExporter`: finished spans -> records -> lines in each session's log.

Use it behind a `BatchSpanProcessor`: export then runs in the processor's thread and
never costs the application latency. It works on spans from any instrumentation that
follows the GenAI conventions (see `extract`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_token_usage._util import ThrottledLogger, reinit_after_fork
from otel_token_usage.record import RecordLine, SessionRefusedError, encode_lines

from ._extract import extract_line, span_attributes
from ._late_sessions import late_sessions
from ._merge import CallMerger
from ._metrics import TokenMetrics
from ._sampling import check_exporter_once
from ._settings import ExporterSettings, LineFormat
from ._storage import SessionLogWriter

__all__ = ["TokenUsageSpanExporter"]

_log = logging.getLogger(__name__)


class TokenUsageSpanExporter(SpanExporter):
    """Writes one `TokenUsageRecord` line per finished LLM-call span to
    `<sessions_dir>/<session_id>/token-usage.jsonl`.

    Guarantees:

    - `export()` never raises. Spans that are not LLM calls are skipped; a call seen by
      several producers (same session and `gen_ai.response.id`, or nested spans of one
      provider and model) is one line, with the most exact counts any of its spans has
      (see `_merge`).
    - A span that started inside `session()` but said it was an LLM call only when it
      ended gets that session, as `SessionSpanProcessor` notes it (`_late_sessions`).
    - Each session's lines of a batch are one append (see `storage`): never torn,
      interleaved or duplicated, across threads and processes.
    - When the disk refuses a batch (full, read-only, permissions) `export()` returns
      FAILURE with one throttled log line; the lines wait in memory (up to
      `max_pending_lines`; past it the oldest lines, across all sessions, are dropped
      and that is logged) and are written, each session's in the order they arrived,
      by the next export or `force_flush()` that can. A session id that cannot have its
      own log (see `SessionLogWriter`: an unusable id, a symlink, a FIFO or anything
      else that is not a regular file in its place) is logged, throttled, and its lines
      go to the fallback session, with the session id intact; no line is ever reported
      written that went anywhere but a regular file.
    - Fork-safe: a child forked at any moment (even while another thread exports)
      starts with a fresh lock and an empty retry buffer; lines pending in the parent
      are written by the parent alone.
    - `force_flush()` writes what is pending and fsyncs the open logs.
    - `shutdown()` flushes, closes, and is idempotent; later exports return FAILURE.
    - Token metrics (see `metrics`) are recorded on `meter_provider`, else on the global
      provider, after the batch's lines are written; with no provider set, or with
      `metrics=False`, the export path does no metrics work at all. A metrics failure
      is a throttled log line; it never changes what is written or returned.

    Every argument left as None falls back to its `OTEL_TOKEN_USAGE_*` variable, then to
    its default (see `config.ExporterSettings`); with no arguments at all this is what
    `OTEL_TRACES_EXPORTER=token_usage` builds.
    """

    def __init__(
        self,
        sessions_dir: str | os.PathLike[str] | None = None,
        *,
        fallback_session: str | None = None,
        line_format: LineFormat | None = None,
        max_open_files: int | None = None,
        dir_mode: int | None = None,
        file_mode: int | None = None,
        max_pending_lines: int | None = None,
        meter_provider: MeterProvider | None = None,
        metrics: bool | None = None,
        price_file: str | os.PathLike[str] | None = None,
    ) -> None:
        settings = ExporterSettings.resolve(
            sessions_dir=sessions_dir,
            fallback_session=fallback_session,
            line_format=line_format,
            max_open_files=max_open_files,
            dir_mode=dir_mode,
            file_mode=file_mode,
            max_pending_lines=max_pending_lines,
            metrics=metrics,
            price_file=price_file,
        )
        self.settings = settings
        self._metrics = (
            TokenMetrics(meter_provider, _price_book(settings, given=price_file is not None))
            if settings.metrics
            else None
        )
        self._writer = SessionLogWriter(
            settings.sessions_dir,
            dir_mode=settings.dir_mode,
            file_mode=settings.file_mode,
            max_open_files=settings.max_open_files,
        )
        self._extended = settings.line_format == "extended"
        self._lock = threading.Lock()
        # Lines the disk refused, kept for retry: oldest first, across all sessions.
        self._pending: list[RecordLine] = []
        self._merger = CallMerger()
        self._is_shutdown = False
        self._warn = ThrottledLogger(_log)
        reinit_after_fork(self._after_fork_in_child)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append the batch's LLM calls to their session logs. Never raises."""
        if self._is_shutdown:
            self._warn.warning("shutdown", "export called after shutdown; spans dropped")
            return SpanExportResult.FAILURE
        try:
            check_exporter_once(self, spans)  # warns once if lines follow trace sampling
            with self._lock:
                batch = _Batch(self._pending)
                self._pending = []
                metrics = self._metrics
                calls: list[Any] | None = [] if metrics is not None and metrics.active() else None
                self._collect(spans, batch, calls)
                result = self._write(batch)
                if calls and metrics is not None:
                    metrics.record(calls)
                return result
        except Exception as exc:  # noqa: BLE001 - nothing may reach the application
            self._warn.error("export", "token-usage export failed: %s", exc, exc_info=True)
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write pending lines and fsync every open log; True when nothing is left."""
        try:
            with self._lock:
                if self._pending:
                    batch = _Batch(self._pending)
                    self._pending = []
                    self._write(batch)
                self._writer.fsync()
                return not self._pending
        except Exception as exc:  # noqa: BLE001
            self._warn.error("flush", "token-usage flush failed: %s", exc)
            return False

    def shutdown(self) -> None:
        """Flush, then close every log. Safe to call more than once."""
        if self._is_shutdown:
            return
        self.force_flush()
        with self._lock:
            self._is_shutdown = True
            if self._pending:
                _log.error(
                    "token-usage exporter shut down with %d unwritten lines", len(self._pending)
                )
            self._writer.close()

    def _after_fork_in_child(self) -> None:
        # The parent's lock may be held by a thread that does not exist here, and its
        # pending lines are the parent's to write: the child writes only its own calls.
        self._lock = threading.Lock()
        self._pending = []
        # A fork mid-export leaves the merger's batch half noted; the parent's calls
        # are the parent's to merge.
        self._merger = CallMerger()

    def _collect(
        self,
        spans: Sequence[ReadableSpan],
        batch: _Batch,
        calls: list[Any] | None,
    ) -> None:
        fallback = self.settings.fallback_session
        extended = self._extended
        late = late_sessions.pending()
        note = self._merger.note
        groups = batch.groups
        order = batch.order.append
        for span in spans:
            try:
                attrs = span_attributes(span)
                if late:
                    _late_session(span, attrs)
                line = extract_line(span, attrs, fallback, extended)
                if line is None:
                    continue
                note(attrs, line, span)
                # Grouped now, as if each span were a call of its own: the common case,
                # redone below when some were one call.
                session_id = line.session_id
                lines = groups.get(session_id)
                if lines is None:
                    groups[session_id] = [line]
                else:
                    lines.append(line)
                order(session_id)
                if calls is not None:
                    calls.append((attrs, line, span.context))
            except Exception as exc:  # noqa: BLE001 - one odd span must not cost the batch
                self._warn.error("span", "skipped a span token-usage could not read: %s", exc)
        try:
            merged = self._merger.end()
        except Exception as exc:  # noqa: BLE001 - unmerged lines beat no lines
            self._warn.error("merge", "could not merge the spans of a batch: %s", exc)
            merged = None
        if merged is not None:
            batch.redo_new([line for _, line, _ in merged])
            if calls is not None:
                calls[:] = [(attrs, line, span.context) for attrs, line, span in merged]

    def _write(self, batch: _Batch) -> SpanExportResult:
        failed: set[str] = set()
        for session_id, lines in batch.groups.items():
            try:
                self._append(session_id, lines)
            except (OSError, SessionRefusedError) as exc:
                failed.add(session_id)
                self._warn.error(
                    f"write:{getattr(exc, 'errno', None)}",
                    "could not append to the token-usage log of session %r in %s: %s; "
                    "%d line(s) kept for retry",
                    session_id,
                    self.settings.sessions_dir,
                    exc,
                    len(lines),
                )
        if not failed:
            return SpanExportResult.SUCCESS
        self._keep_for_retry(batch.lines_of(failed))
        return SpanExportResult.FAILURE

    def _append(self, session_id: str, lines: list[RecordLine]) -> None:
        data = encode_lines(lines)
        try:
            self._writer.append(session_id, data)
        except SessionRefusedError as exc:
            fallback = self.settings.fallback_session
            self._warn.warning(
                "refused",
                "session %r has no log of its own (%s); writing to %r",
                session_id,
                exc,
                fallback,
            )
            self._writer.append(fallback, data)

    def _keep_for_retry(self, lines: list[RecordLine]) -> None:
        # Oldest lines go first when the bound is hit, whatever their session: the
        # newest say the most about now.
        self._pending = lines
        excess = len(lines) - self.settings.max_pending_lines
        if excess > 0:
            del lines[:excess]
            self._warn.error(
                "dropped", "token-usage retry buffer full: dropped %d unwritten line(s)", excess
            )


class _Batch:
    """The lines of one export: the retry buffer's (oldest first), then the new spans',
    grouped by session for one append each, and the order they all arrived in."""

    __slots__ = ("groups", "order", "pending")

    def __init__(self, pending: list[RecordLine]) -> None:
        self.pending = pending
        self.groups: dict[str, list[RecordLine]] = {}
        self.order: list[str] = []
        self.redo_new([])

    def redo_new(self, lines: list[RecordLine]) -> None:
        """Start over with the retry buffer's lines, then `lines` as the new ones (the
        batch's calls once `_merge` has made its spans one line per call)."""
        self.groups.clear()
        self.order.clear()
        for line in (*self.pending, *lines):
            self.groups.setdefault(line.session_id, []).append(line)
            self.order.append(line.session_id)

    def lines_of(self, sessions: set[str]) -> list[RecordLine]:
        """The lines of `sessions`, in the order they arrived (across sessions)."""
        rest = {session_id: iter(self.groups[session_id]) for session_id in sessions}
        return [next(rest[session_id]) for session_id in self.order if session_id in rest]


def _late_session(span: ReadableSpan, attrs: dict[str, Any]) -> None:
    """Give `attrs` the session the span started in, if it became an LLM call only when
    it ended (`SessionSpanProcessor` noted it); by the rules of its `on_start`."""
    context = span.context
    if context is None:
        return
    active = late_sessions.take(context.span_id)
    if active is not None:
        attrs.update(active.stamps_for(attrs))


def _price_book(settings: ExporterSettings, *, given: bool) -> Any:
    """The user's price file as a `PriceBook`, or None for `genai-prices`' data alone.

    A bad file named by the argument raises `ValueError`; one named by the environment
    is a warning (the rule of `config`)."""
    if settings.price_file is None:
        return None
    from otel_token_usage.pricing import PriceBook, PriceFileError  # noqa: PLC0415 - heavy, rarely needed

    try:
        return PriceBook.from_file(settings.price_file)
    except PriceFileError as exc:
        if given:
            raise ValueError(f"price_file: {exc}") from None
        _log.warning("ignoring OTEL_TOKEN_USAGE_PRICE_FILE (%s); using genai-prices alone", exc)
        return None
