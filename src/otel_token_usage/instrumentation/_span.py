"""The one place that starts, fills and ends the span of an LLM call.

The manual `llm_call` API and every instrumentor go through `LLMCallSpan`, so span
name, kind and attribute names are decided once: span name
`"{operation} {request_model}"`, kind CLIENT, GenAI convention attributes, usage via
`usage.Usage.attributes()`. Nothing here raises into the caller: a failure to record is
logged (throttled) and the call goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._session import current_session
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.instrumentation.usage import Usage, normalize_usage

__all__ = ["CAPTURE_CONTENT_ENV", "LLMCallSpan", "capture_content"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


def capture_content() -> bool:
    """True only when the user opted in to prompt/completion content on spans."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"


class LLMCallSpan:
    """The span of one LLM call: started with the request's attributes and the current
    `session()`'s (`ActiveSession.stamps_for`), given the response's, ended exactly once
    (later `end()` calls do nothing)."""

    __slots__ = ("_ended", "provider", "span", "usage")

    def __init__(
        self,
        tracer: Tracer,
        *,
        provider: str,
        request_model: str,
        operation: str = "chat",
        message_count: int | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        start: dict[str, AttributeValue] = {
            a.GEN_AI_OPERATION_NAME: operation,
            a.GEN_AI_PROVIDER_NAME: provider,
        }
        # An empty model (a request that names none) gives span name `operation` alone,
        # as the conventions say, and no gen_ai.request.model.
        if request_model:
            start[a.GEN_AI_REQUEST_MODEL] = request_model
        if message_count is not None:
            start[a.TOKEN_USAGE_MESSAGE_COUNT] = message_count
        if attributes:
            start.update(attributes)
        # The current session's stamps, by the session processor's rules: our spans
        # carry their session with or without a SessionSpanProcessor.
        active = current_session()
        if active is not None:
            start.update(active.stamps_for(start))
        # Attributes given at start are visible to span processors' on_start (the
        # session processor relies on gen_ai.operation.name being there).
        self.span: Span = tracer.start_span(
            f"{operation} {request_model}" if request_model else operation,
            kind=SpanKind.CLIENT,
            attributes=start,
        )
        self.provider = provider
        self.usage: Usage | None = None
        self._ended = False

    def record_usage(self, usage: object) -> Usage | None:
        """Set usage from a provider usage object, a mapping or a `Usage`; replaces any
        earlier usage (streamed counts are cumulative). A usage of no known shape is not
        recorded (None; `normalize_usage` says why). Never raises."""
        try:
            normalized = normalize_usage(usage, self.provider)
            if normalized is None:
                return None
            self.usage = normalized
            self.span.set_attributes(normalized.attributes())
            return normalized
        except Exception as exc:  # noqa: BLE001 - recording must not break the call
            _warn.warning("usage", "could not record usage on an LLM span: %s", exc)
            return None

    def record_response(self, *, response_id: object = None, response_model: object = None) -> None:
        """Set `gen_ai.response.id` / `gen_ai.response.model` when they are strings."""
        if isinstance(response_id, str) and response_id:
            self.span.set_attribute(a.GEN_AI_RESPONSE_ID, response_id)
        if isinstance(response_model, str) and response_model:
            self.span.set_attribute(a.GEN_AI_RESPONSE_MODEL, response_model)

    def end(self, error: BaseException | None = None) -> None:
        """End the span once; with `error`, mark it as failed (`error.type`)."""
        if self._ended:
            return
        self._ended = True
        try:
            if error is not None:
                self.span.set_attribute(a.ERROR_TYPE, type(error).__qualname__)
                self.span.record_exception(error)
                self.span.set_status(Status(StatusCode.ERROR, str(error)))
            self.span.end()
        except Exception as exc:  # noqa: BLE001
            _warn.warning("end", "could not end an LLM span: %s", exc)

    @property
    def ended(self) -> bool:
        """Whether `end()` has run."""
        return self._ended
