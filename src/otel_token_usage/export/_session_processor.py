"""`SessionSpanProcessor`: the current `session()` stamped onto every LLM span, whoever
starts it.

The stamping has to happen in a span processor: the exporter runs later, in another
thread, where the application's context is gone. Only public span API is used
(`span.attributes`, `span.set_attributes`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

from otel_token_usage import semconv as a
from otel_token_usage._session import current_session
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.semconv import is_inference

__all__ = ["SessionSpanProcessor"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)

_SESSION_NAMES = a.READ_SESSION
"""Attributes through which a span already names its session (read in this order)."""


def _own_session(attrs: Mapping[str, Any]) -> str | None:
    """The session the span names itself, read as the exporter reads it."""
    for name in _SESSION_NAMES:
        value = attrs.get(name)
        if isinstance(value, str):
            if value:
                return value
        elif type(value) is int:
            return str(value)
    return None


class SessionSpanProcessor(SpanProcessor):
    """Stamps the current session onto every LLM span when it starts, whoever starts it.

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
    condition, which cannot be known before the response. Every other span (agent,
    tool, embeddings, HTTP, a span that names its operation only after starting) is left
    untouched: no session, budget or message count.

    A producer's own values win; nothing already on the span is overwritten:
    - A span that starts with a session of its own (`gen_ai.conversation.id`, else
      `session.id`) that differs from the current one belongs to that other
      conversation (e.g. an Anthropic client built with a `conversation_id`); it gets
      nothing, since the current budget and message count describe another
      conversation.
    - A span whose session equals the current one, or that names none, gets every stamp
      it does not already carry (so `llm_call(message_count=...)` keeps its own count).

    `on_start` never raises (a failure is logged, throttled) and costs one context
    lookup for spans outside any session.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Stamp `span` if it is an LLM call started inside a session. Never raises."""
        # The context the span was started in, else the caller's (a producer may start
        # spans in a context it built without ours).
        active = current_session(parent_context)
        if active is None and parent_context is not None:
            active = current_session()
        if active is None:
            return
        try:
            attrs = span.attributes or {}
            if not is_inference(attrs):
                return
            own = _own_session(attrs)
            if own is not None and own != active.session_id:
                return
            stamps = active._stamps
            if not stamps.keys().isdisjoint(attrs):
                stamps = {k: v for k, v in stamps.items() if k not in attrs}
            span.set_attributes(stamps)
        except Exception as exc:  # noqa: BLE001 - a processor must not break span creation
            _warn.warning("on_start", "could not stamp the session onto a span: %s", exc)

    def on_end(self, span: Any) -> None:
        """Nothing to do when a span ends."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: always True."""
        return True
