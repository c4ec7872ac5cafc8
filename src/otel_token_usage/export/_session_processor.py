"""`SessionSpanProcessor`: the current `session()` given to every LLM span, whoever
starts it.

It has to happen in a span processor: the exporter runs later, in another thread, where
the application's context is gone. Only public span API is used (`span.attributes`,
`span.set_attributes`).
"""

from __future__ import annotations

import logging

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_token_usage._session import current_session, note_processor
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.semconv import is_inference

from ._late_sessions import late_sessions

__all__ = ["SessionSpanProcessor"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class SessionSpanProcessor(SpanProcessor):
    """Gives the current session to every LLM span started in it, whoever starts it.

    Add it to the tracer provider next to the exporter's processor. In `on_start`, when
    a session is current (`session()`), a span that is an LLM call *by the attributes it
    starts with* gets the session's `ActiveSession.attributes`.

    An LLM call at start time is a span that
    - has `gen_ai.operation.name` in `chat`, `text_completion`, `generate_content`
      (our spans, the Anthropic SDK's native `anthropic.messages.create`, OpenLLMetry's
      and the official GenAI instrumentations' chat spans all start with it); or, when
      that is absent,
    - has OpenInference's `openinference.span.kind` = `LLM`; or, when both are absent,
    - has older OpenLLMetry's `llm.request.type` = `chat` or `completion`;
    - and is not an OpenLLMetry aggregate (`traceloop.span.kind` workflow, task, agent,
      tool).
    These are the exporter's rules (`semconv.is_llm_call`) without its "carries usage"
    condition, which cannot be known before the response. Agent, tool, embeddings and
    HTTP spans are left untouched: no session, budget or message count.

    A span that says it is an LLM call only later (OpenLLMetry's `openai.response`,
    openlit's spans, LangChain's under OpenInference start with no attributes) still
    belongs to the session it started in: its session is remembered beside it (see
    `_late_sessions`: in memory, bounded, nothing written onto the span) and the
    exporter gives its line the same stamps, by the same rules.

    Which stamps a span gets is `ActiveSession.stamps_for`: a producer's own values win
    and nothing already on the span is overwritten, except the conversation id under
    `session(..., override=True)`.
    - A span that starts with a session of its own (`gen_ai.conversation.id`, else
      `session.id`) that differs from the current one belongs to that other
      conversation (e.g. an Anthropic client built with a `conversation_id`); it gets
      nothing, since the current budget and message count describe another
      conversation.
    - A span whose session equals the current one, or that names none, gets every stamp
      it does not already carry (so `llm_call(message_count=...)` keeps its own count).

    `on_start` and `on_end` never raise (a failure is logged, throttled); outside any
    session `on_start` costs one context lookup, and `on_end` one dictionary check.
    """

    def __init__(self) -> None:
        self._shut_down = False
        self._open = late_sessions.open
        note_processor(+1)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Stamp `span` if it is an LLM call started inside a session; note its session
        if it may become one later. Never raises."""
        # The context the span was started in, else the caller's (a producer may start
        # spans in a context it built without ours).
        active = current_session(parent_context) if parent_context is not None else None
        if active is None:
            active = current_session()
            if active is None:
                return
        try:
            attrs = span.attributes or {}
            if not is_inference(attrs):
                context = span.context
                if context is not None:
                    late_sessions.started(context.span_id, active)
                return
            stamps = active.stamps_for(attrs)
            if stamps:
                span.set_attributes(stamps)
        except Exception as exc:  # noqa: BLE001 - a processor must not break span creation
            _warn.warning("on_start", "could not stamp the session onto a span: %s", exc)

    def on_end(self, span: ReadableSpan) -> None:
        """Keep the session of a span that turned out to be an LLM call only now, for the
        exporter; forget it otherwise. Never raises."""
        if not self._open:  # no span of a session waits to say what it is
            return
        try:
            context = span.context
            if context is not None:
                late_sessions.ended(context.span_id, span.attributes or {})
        except Exception as exc:  # noqa: BLE001
            _warn.warning("on_end", "could not keep the session of a span: %s", exc)

    def shutdown(self) -> None:
        """Nothing to release; from now on it no longer counts as present for
        `session()`'s warning."""
        if not self._shut_down:
            self._shut_down = True
            note_processor(-1)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: always True."""
        return True
