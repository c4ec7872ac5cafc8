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

from otel_token_usage import semconv as a
from otel_token_usage._util import RecentKeys, ThrottledLogger
from otel_token_usage.record import RecordLine, SessionRefusedError, encode_lines

from ._extract import extract_line, span_attributes
from ._metrics import TokenMetrics
from ._sampling import check_exporter_once
from ._settings import ExporterSettings, LineFormat
from ._storage import SessionLogWriter

__all__ = ["TokenUsageSpanExporter"]

_log = logging.getLogger(__name__)
_RECENT_RESPONSE_IDS = 4096


class TokenUsageSpanExporter(SpanExporter):
    """Writes one `TokenUsageRecord` line per finished LLM-call span to
    `<sessions_dir>/<session_id>/token-usage.jsonl`.

    Guarantees:

    - `export()` never raises. Spans that are not LLM calls are skipped; a call seen by
      two producers (same `gen_ai.response.id`) is written once.
    - Each session's lines of a batch are one append (see `storage`): never torn,
      interleaved or duplicated, across threads and processes.
    - When the disk refuses a batch (full, read-only, permissions) `export()` returns
      FAILURE with one throttled log line; the lines wait in memory (up to
      `max_pending_lines`) and are written, in order, by the next export or
      `force_flush()` that can. A session id that cannot have its own directory is
      logged and its lines go to the fallback session, with the session id intact.
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
        # Lines (RecordLine) by session: kept for retry when the disk refused them.
        self._pending: dict[str, list[RecordLine]] = {}
        self._recent_ids = RecentKeys(_RECENT_RESPONSE_IDS)
        self._is_shutdown = False
        self._warn = ThrottledLogger(_log)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append the batch's LLM calls to their session logs. Never raises."""
        if self._is_shutdown:
            self._warn.warning("shutdown", "export called after shutdown; spans dropped")
            return SpanExportResult.FAILURE
        try:
            check_exporter_once(self, spans)  # warns once if lines follow trace sampling
            with self._lock:
                groups = self._pending
                self._pending = {}
                metrics = self._metrics
                calls: list[Any] | None = [] if metrics is not None and metrics.active() else None
                self._collect(spans, groups, calls)
                result = self._write(groups)
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
                    groups, self._pending = self._pending, {}
                    self._write(groups)
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
                    "token-usage exporter shut down with %d unwritten lines",
                    sum(map(len, self._pending.values())),
                )
            self._writer.close()

    def _collect(
        self,
        spans: Sequence[ReadableSpan],
        groups: dict[str, list[RecordLine]],
        calls: list[Any] | None,
    ) -> None:
        fallback = self.settings.fallback_session
        extended = self._extended
        seen = self._recent_ids.seen
        for span in spans:
            try:
                attrs = span_attributes(span)
                line = extract_line(span, attrs, fallback, extended)
                if line is None:
                    continue
                response_id = attrs.get(a.GEN_AI_RESPONSE_ID)
                if response_id is not None and seen(response_id):
                    continue
                lines = groups.get(line.session_id)
                if lines is None:
                    groups[line.session_id] = [line]
                else:
                    lines.append(line)
                if calls is not None:
                    calls.append((attrs, line, span.context))
            except Exception as exc:  # noqa: BLE001 - one odd span must not cost the batch
                self._warn.error("span", "skipped a span token-usage could not read: %s", exc)

    def _write(self, groups: dict[str, list[RecordLine]]) -> SpanExportResult:
        failed: dict[str, list[RecordLine]] = {}
        for session_id, lines in groups.items():
            try:
                self._append(session_id, lines)
            except (OSError, SessionRefusedError) as exc:
                failed[session_id] = lines
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
        self._keep_for_retry(failed)
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

    def _keep_for_retry(self, failed: dict[str, list[RecordLine]]) -> None:
        # Oldest lines go first when the bound is hit: the newest say the most about now.
        for session_id, lines in failed.items():
            self._pending.setdefault(session_id, []).extend(lines)
        excess = sum(map(len, self._pending.values())) - self.settings.max_pending_lines
        if excess <= 0:
            return
        dropped = excess
        for session_id in list(self._pending):
            lines = self._pending[session_id]
            cut = min(excess, len(lines))
            del lines[:cut]
            excess -= cut
            if not lines:
                del self._pending[session_id]
            if not excess:
                break
        self._warn.error(
            "dropped", "token-usage retry buffer full: dropped %d unwritten line(s)", dropped
        )


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
