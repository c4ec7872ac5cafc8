"""`TokenUsageSpanProcessor`: the SDK's `BatchSpanProcessor` for the token exporter, taking
every LLM-call span that was recorded, sampled or not.

The SDK's batch processor passes on only sampled spans. With `TokenUsageSampler`, the
LLM calls of unsampled traces are recorded but not sampled; this processor hands them to
the exporter as well, through the same queue and worker thread, so the session log gets
every call in the order the calls ended, and the application thread only enqueues.
"""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

from otel_token_usage._util import ThrottledLogger
from otel_token_usage.semconv import is_llm_call

from ._exporter import TokenUsageSpanExporter
from ._metrics import flush_at_exit, flush_before_metrics_at_exit
from ._sampling import mark_fed_unsampled, mark_recorded_only

__all__ = ["TokenUsageSpanProcessor"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class TokenUsageSpanProcessor(BatchSpanProcessor):
    """A `BatchSpanProcessor` (same arguments, same `OTEL_BSP_*` variables, same worker
    thread and fork handling) that passes to its exporter exactly the finished LLM-call
    spans (`semconv.is_llm_call`: an inference span carrying usage), sampled or recorded
    only.

    - A recorded-only span (see `TokenUsageSampler`) is handed on as a copy whose context
      says sampled, since the batch machinery passes on sampled spans alone, and carries
      a trace-state marker so that its token metrics get no exemplar (it would point at
      a trace that was never exported); its trace and span ids are the span's own.
      Other exporters never see it.
    - Spans that are not LLM calls (HTTP, database, agent spans) are not queued: the token
      log would skip them anyway, and they cannot crowd LLM spans out of the queue.
    - `span_exporter` defaults to `TokenUsageSpanExporter()` (built from its
      `OTEL_TOKEN_USAGE_*` variables).
    - Its spans still queued at interpreter exit are written, and their token metrics
      recorded, before the global meter provider shuts down (see `metrics`).

    `on_end` never raises; it runs on the application thread and costs one attribute
    check per span (plus a small copy for each recorded-only LLM span).
    """

    def __init__(
        self,
        span_exporter: SpanExporter | None = None,
        max_queue_size: int | None = None,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: float | None = None,
    ) -> None:
        exporter = span_exporter if span_exporter is not None else TokenUsageSpanExporter()
        super().__init__(
            exporter,
            max_queue_size,
            schedule_delay_millis,
            max_export_batch_size,
            export_timeout_millis,
        )
        mark_fed_unsampled(exporter)
        flush_at_exit(self)
        self._exit_order_known = False

    def on_end(self, span: ReadableSpan) -> None:
        """Queue `span` if it is a finished LLM call, sampled or recorded only."""
        try:
            context = span.context
            if context is None or not is_llm_call(span.attributes or {}):
                return
            if not self._exit_order_known:
                # On the application thread, after its providers exist: the first moment
                # the exit flush can be placed before the meter provider's shutdown.
                self._exit_order_known = flush_before_metrics_at_exit()
            if not context.trace_flags.sampled:
                span = _sampled_copy(span, context)
            super().on_end(span)
        except Exception as exc:  # noqa: BLE001 - a processor must never break the caller
            _warn.warning("on_end", "token-usage could not queue a span: %s", exc)


def _sampled_copy(span: ReadableSpan, context: SpanContext) -> ReadableSpan:
    """`span` with the sampled flag set (public `ReadableSpan` constructor; the attribute,
    event and link collections of an ended span are immutable and shared)."""
    return ReadableSpan(
        name=span.name,
        context=SpanContext(
            context.trace_id,
            context.span_id,
            context.is_remote,
            TraceFlags(context.trace_flags | _SAMPLED),
            mark_recorded_only(context.trace_state),
        ),
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
