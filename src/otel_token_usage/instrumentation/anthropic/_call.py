"""One instrumented Anthropic Messages call: its span and what arrived of its response.

`AnthropicCall` is shared by the JSON path (`record_message`) and every stream wrapper
(`observe` per event). It ends its span exactly once (`finish`), with whatever usage had
arrived by then, whoever calls first: exhaustion, close, context exit, an error while
iterating, or the garbage collector.

Streamed usage: `message_start` carries `message.usage`, each `message_delta` a `usage`
whose counts are cumulative totals for the message so far. So they replace, never add:
a field present in a `message_delta` replaces the value held; a field it omits keeps the
`message_start` value (the API omits counts that did not change, and never resends the
5m/1h `cache_creation` split).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager

from opentelemetry.trace import use_span

from otel_token_usage._util import ThrottledLogger, field
from otel_token_usage.instrumentation._span import LLMCallSpan
from otel_token_usage.instrumentation.anthropic._content import StreamedContent, output_content

__all__ = ["USAGE_FIELDS", "AnthropicCall"]

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "output_tokens_details",
)
"""The usage fields that make up a call's token counts (merged field by field)."""

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class AnthropicCall:
    """The span of one Messages call and the usage that arrived for it; ended once."""

    __slots__ = ("_content", "_finished", "_usage", "span")

    def __init__(self, span: LLMCallSpan, *, capture_content: bool = False) -> None:
        self.span = span
        self._usage: dict[str, object] = {}
        self._content: StreamedContent | None = StreamedContent() if capture_content else None
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether `finish` has run."""
        return self._finished

    def current(self) -> AbstractContextManager[object]:
        """The call's span as the current span while its request is sent (for trace
        propagation and HTTP-client spans); it neither records nor re-marks the
        application's exceptions, nor ends the span."""
        return use_span(
            self.span.span,
            end_on_exit=False,
            record_exception=False,
            set_status_on_exception=False,
        )

    def observe(self, event: object) -> bool:
        """Take one raw stream event into account; every event reaches the caller
        (True). Never raises."""
        try:
            kind = field(event, "type")
            if kind == "message_start":
                message = field(event, "message")
                self.span.record_response(
                    response_id=field(message, "id"), response_model=field(message, "model")
                )
                self._merge(field(message, "usage"))
            elif kind == "message_delta":
                self._merge(field(event, "usage"))
            if self._content is not None:
                self._content.observe(kind, event)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not break the stream
            _warn.warning("event", "could not read an Anthropic stream event: %s", exc)
        return True

    def record_message(self, message: object) -> None:
        """Take a complete `Message` (a JSON response, or a stream's final snapshot)
        into account. Never raises."""
        try:
            self.span.record_response(
                response_id=field(message, "id"), response_model=field(message, "model")
            )
            usage = field(message, "usage")
            if usage is not None:
                self._usage.clear()
                self._merge(usage)
            if self._content is not None:
                self._content = None
                self.span.span.set_attributes(
                    output_content(field(message, "content"), field(message, "stop_reason"))
                )
        except Exception as exc:  # noqa: BLE001
            _warn.warning("message", "could not read an Anthropic message: %s", exc)

    def finish(self, error: BaseException | None = None) -> None:
        """Record the usage held and end the span, once; later calls do nothing.

        Only an `Exception` marks the span as failed: a cancellation or an interrupt is
        the application stopping the call, not the call failing. Never raises.
        """
        if self._finished:
            return
        self._finished = True
        try:
            if self._usage:
                self.span.record_usage(self._usage)
            if self._content is not None and self._content.blocks:
                self.span.span.set_attributes(self._content.attributes())
        except Exception as exc:  # noqa: BLE001
            _warn.warning("finish", "could not finish an Anthropic call span: %s", exc)
        self.span.end(error if isinstance(error, Exception) else None)

    def _merge(self, usage: object) -> None:
        if usage is None:
            return
        for name in USAGE_FIELDS:
            value = field(usage, name)
            if value is not None:
                self._usage[name] = value
