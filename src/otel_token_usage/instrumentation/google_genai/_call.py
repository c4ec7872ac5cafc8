"""One instrumented Gemini request: its span, and what its response (or each streamed
chunk) says: `response_id`, `model_version`, and `usage_metadata`, whose counts are the
request's running totals (so the last chunk's replace the earlier ones)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import Tracer

from otel_token_usage import semconv as a
from otel_token_usage._session import current_session
from otel_token_usage._util import ThrottledLogger, field
from otel_token_usage.instrumentation._call import LastUsageCall
from otel_token_usage.instrumentation._span import LLMCallSpan
from otel_token_usage.instrumentation.usage._gemini import FIELDS as USAGE_FIELDS

__all__ = ["GeminiCall", "start_call"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class GeminiCall(LastUsageCall):
    """A Gemini request in flight; each response or chunk goes through `observe`."""

    __slots__ = ()

    def observe(self, item: object) -> bool:
        """Record the id, model and usage `item` carries; every chunk reaches the caller.
        Never raises."""
        try:
            self.span.record_response(
                response_id=field(item, "response_id"),
                response_model=field(item, "model_version"),
            )
            usage = field(item, "usage_metadata")
            if any(field(usage, name) is not None for name in USAGE_FIELDS):
                self.take_usage(usage)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not break the call
            _warn.warning("chunk", "could not read a Gemini response: %s", exc)
        return True


def start_call(tracer: Tracer, models: object, kwargs: Mapping[str, Any]) -> GeminiCall | None:
    """Start the span of a request of `models` (a `Models` / `AsyncModels`); None
    (untraced) if that fails. Never raises."""
    try:
        model = kwargs.get("model")
        vertex = getattr(models, "vertexai", None) is True
        span = LLMCallSpan(
            tracer,
            provider=a.PROVIDER_VERTEX_AI if vertex else a.PROVIDER_GEMINI,
            request_model=model if isinstance(model, str) else "",
            operation="generate_content",
            message_count=_message_count(kwargs.get("contents")),
        )
        return GeminiCall(span)
    except Exception as exc:  # noqa: BLE001 - the call goes on without our span
        _warn.warning("start", "could not start a span for a Gemini call: %s", exc)
        return None


def _message_count(contents: object) -> int | None:
    """The session's message count, else the request's contents: a string is one
    message, a list counts its `Content`s (items with a role; a list of parts alone is
    one message)."""
    active = current_session()
    if active is not None and active.message_count is not None:
        return active.message_count
    if isinstance(contents, str):
        return 1
    if isinstance(contents, Sequence):
        return sum(1 for item in contents if field(item, "role") is not None) or 1
    return None
