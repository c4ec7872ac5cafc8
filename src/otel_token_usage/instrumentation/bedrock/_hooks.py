"""The botocore event handlers that turn one Bedrock `Converse` / `ConverseStream` call
into one span, through the client's public event system.

botocore emits, on the client's events, for each API call (retries included):
`before-parameter-build` (the caller's parameters: model id, messages),
`before-call` (the request is about to be sent), then either `after-call` (the parsed
response, also for HTTP errors, before botocore raises them) or `after-call-error`
(nothing came back). One `context` dict flows through all of them: the call's state
lives there. The span starts at `before-call` (after parameter validation, which can
fail without any later event) and ends at `after-call` / `after-call-error`, or, for
ConverseStream, when the event stream that `after-call` replaced with a proxy ends.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import Status, StatusCode, Tracer

from otel_token_usage import semconv as a
from otel_token_usage._session import current_session
from otel_token_usage._util import ThrottledLogger, field
from otel_token_usage.instrumentation._call import LastUsageCall
from otel_token_usage.instrumentation._span import LLMCallSpan
from otel_token_usage.instrumentation._stream import StreamProxy

__all__ = ["OPERATIONS", "SERVICE", "BedrockCall", "Hooks"]

SERVICE = "bedrock-runtime"
OPERATIONS = ("Converse", "ConverseStream")

# Our keys in botocore's per-call context dict.
_MODEL = "otel_token_usage.model"
_MESSAGES = "otel_token_usage.message_count"
_CALL = "otel_token_usage.call"

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class BedrockCall(LastUsageCall):
    """A Converse call in flight; ConverseStream events go through `observe`."""

    __slots__ = ()

    def observe(self, item: object) -> bool:
        """Take the usage of the stream's `metadata` event (its only usage). Every event
        reaches the caller. Never raises."""
        try:
            usage = field(field(item, "metadata"), "usage")
            if usage is not None:
                self.take_usage(usage)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not break the stream
            _warn.warning("event", "could not read a Bedrock stream event: %s", exc)
        return True

    def fail(self, error_type: str, message: str) -> None:
        """The API answered with an error (botocore raises it next): mark and end."""
        try:
            self.span.span.set_attribute(a.ERROR_TYPE, error_type)
            self.span.span.set_status(Status(StatusCode.ERROR, message))
        except Exception as exc:  # noqa: BLE001
            _warn.warning("fail", "could not mark a Bedrock span failed: %s", exc)
        self.finish()


class Hooks:
    """The handlers one instrumentor registers on each Bedrock Runtime client."""

    def __init__(self, tracer: Tracer, unique_prefix: str) -> None:
        self._tracer = tracer
        self._prefix = unique_prefix

    def registrations(self) -> list[tuple[str, Any, str, bool]]:
        """(event name, handler, unique id, register last) for each handler."""
        out: list[tuple[str, Any, str, bool]] = []
        for operation in OPERATIONS:
            for event, handler in (
                ("before-parameter-build", self.before_parameter_build),
                ("before-call", self.before_call),
                ("after-call", self.after_call),
                ("after-call-error", self.after_call_error),
            ):
                name = f"{event}.{SERVICE}.{operation}"
                # Last among before-call handlers: as close to sending as we can get.
                out.append((name, handler, f"{self._prefix}:{name}", event == "before-call"))
        return out

    def before_parameter_build(
        self, params: Mapping[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        """Note the model id and the conversation length for the span to come."""
        try:
            context[_MODEL] = params.get("modelId")
            messages = params.get("messages")
            if isinstance(messages, Sequence):
                context[_MESSAGES] = len(messages)
        except Exception as exc:  # noqa: BLE001
            _warn.warning("params", "could not read Bedrock call parameters: %s", exc)

    def before_call(self, context: dict[str, Any], **_: Any) -> None:
        """Start the call's span."""
        try:
            model = context.get(_MODEL)
            active = current_session()
            count = context.get(_MESSAGES)
            if active is not None and active.message_count is not None:
                count = active.message_count
            span = LLMCallSpan(
                self._tracer,
                provider=a.PROVIDER_BEDROCK,
                request_model=model if isinstance(model, str) else "",
                message_count=count,
            )
            context[_CALL] = BedrockCall(span)
        except Exception as exc:  # noqa: BLE001 - the call goes on untraced
            _warn.warning("start", "could not start a span for a Bedrock call: %s", exc)

    def after_call(
        self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        """Record the answer: usage and end (Converse), a proxy over the event stream
        (ConverseStream), or the error botocore is about to raise."""
        call = context.pop(_CALL, None)
        if not isinstance(call, BedrockCall):
            return
        try:
            call.span.record_response(
                response_id=field(parsed.get("ResponseMetadata"), "RequestId")
            )
            if getattr(http_response, "status_code", 200) >= 300:
                error = parsed.get("Error") or {}
                code = str(error.get("Code") or "BedrockError")
                call.fail(code, str(error.get("Message") or code))
                return
            stream = parsed.get("stream")
            if stream is not None:
                parsed["stream"] = StreamProxy(stream, call, iter(stream))
                return
            call.take_usage(parsed.get("usage"))
        except Exception as exc:  # noqa: BLE001 - the caller gets botocore's answer regardless
            _warn.warning("answer", "could not read a Bedrock answer: %s", exc)
        call.finish()

    def after_call_error(self, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        """No answer came (a connection error): end the span as failed."""
        call = context.pop(_CALL, None)
        if isinstance(call, BedrockCall):
            call.finish(exception)
