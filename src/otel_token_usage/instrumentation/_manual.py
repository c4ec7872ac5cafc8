"""The manual API: `llm_call(...)`, one span for an LLM call no instrumentor covers.

    with llm_call(model="claude-opus-4-8", provider="anthropic") as call:
        message = client.messages.create(...)
        call.record(message)            # id, model and usage in one go

    async with llm_call(model="gpt-5", provider="openai", message_count=12) as call:
        completion = await client.chat.completions.create(...)
        call.record_usage(completion.usage)
        call.record_response(id=completion.id, model=completion.model)

The span is an `LLMCallSpan` (name `"{operation} {model}"`, kind CLIENT, the GenAI
attributes the README lists), current for the block, so spans started inside it
(the Anthropic SDK's own span, HTTP client spans) are its children. A
`SessionSpanProcessor` stamps the current `session()` onto it like onto any LLM span.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from types import TracebackType

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Tracer, TracerProvider

from otel_token_usage._util import ThrottledLogger, field, version
from otel_token_usage.instrumentation._span import LLMCallSpan
from otel_token_usage.instrumentation.usage import Usage
from otel_token_usage.semconv import UNKNOWN

__all__ = ["SCOPE_NAME", "LLMCall", "llm_call"]

SCOPE_NAME = "otel_token_usage"
"""Instrumentation scope of the spans the manual API starts."""

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


@functools.cache
def _global_tracer() -> Tracer:
    # Before a global provider is set this is a proxy that follows it once it is.
    return trace.get_tracer(SCOPE_NAME, version())


class LLMCall:
    """One LLM call: the context manager `llm_call()` returns and the handle it yields.

    Guarantees:

    - Entering (`with` or `async with`) starts the call's span and makes it current;
      leaving ends it exactly once and restores the previous current span.
    - An exception raised in the block marks the span as an error (`error.type`, status
      ERROR, the exception recorded) and propagates unchanged; the block's own control
      flow is never altered.
    - Nothing of ours raises into the caller: odd arguments are replaced (with a
      throttled warning), a broken tracer yields a non-recording span, and the
      `record*` methods ignore what they cannot read. Before the block is entered and
      after it is left they do nothing.
    - The session log gets a line only when usage was recorded: a call that failed
      before any response is on the trace but not in the log.

    Entering an object that is already in use yields the same handle without a second
    span; the span ends when the outermost block is left.
    """

    __slots__ = (
        "_call",
        "_depth",
        "_message_count",
        "_model",
        "_operation",
        "_provider",
        "_token",
        "_tracer_provider",
    )

    def __init__(
        self,
        *,
        model: str,
        provider: str,
        operation: str = "chat",
        message_count: int | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._model = _text("model", model, "")
        self._provider = _text("provider", provider, UNKNOWN)
        self._operation = _text("operation", operation, "chat")
        self._message_count = _message_count(message_count)
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            _warn.warning(
                "provider",
                "llm_call: tracer_provider %r is not a TracerProvider; using the global one",
                tracer_provider,
            )
            tracer_provider = None
        self._tracer_provider = tracer_provider
        self._call: LLMCallSpan | None = None
        self._token: contextvars.Token[otel_context.Context] | None = None
        self._depth = 0

    # context management

    def __enter__(self) -> LLMCall:
        self._depth += 1
        if self._depth > 1:
            _warn.warning("reentered", "llm_call: a call handle was entered again while in use")
            return self
        self._call = self._start()
        try:
            self._token = otel_context.attach(trace.set_span_in_context(self._call.span))
        except Exception as exc:  # noqa: BLE001
            _warn.warning("attach", "llm_call: could not make the span current: %s", exc)
            self._token = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth:
            return
        call, token = self._call, self._token
        self._token = None
        try:
            if token is not None:
                otel_context.detach(token)
            if call is not None:
                call.end(error=exc)
        except Exception as err:  # noqa: BLE001 - the caller's exception, if any, goes on
            _warn.warning("exit", "llm_call: could not end the span: %s", err)

    async def __aenter__(self) -> LLMCall:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    # recording

    def record_usage(self, usage: object) -> Usage | None:
        """Set the call's usage from a provider's usage object or its dict form (an
        Anthropic `Usage`, an OpenAI `CompletionUsage` or `ResponseUsage` and the
        OpenAI-compatible providers' variants, a Gemini `usage_metadata`, a Bedrock
        Converse `usage` dict), or a `Usage`.

        Replaces earlier usage (a stream's counts are cumulative). Returns the normalised
        `Usage`, or None when nothing was recorded: a usage of no known shape is logged
        (throttled, naming its fields), never written as zeros. Never raises.
        """
        call = self._live()
        return None if call is None else call.record_usage(usage)

    def record_response(self, *, id: object = None, model: object = None) -> None:
        """Set `gen_ai.response.id` and `gen_ai.response.model`; values that are not
        non-empty strings are ignored. Never raises."""
        call = self._live()
        if call is None:
            return
        try:
            call.record_response(response_id=id, response_model=model)
        except Exception as exc:  # noqa: BLE001
            _warn.warning("response", "llm_call: could not record the response: %s", exc)

    def record(self, response: object) -> None:
        """Record id, model and usage of a whole response: an Anthropic `Message`, an
        OpenAI `ChatCompletion` or `Response` (`id`, `model`, `usage`), a Gemini
        `GenerateContentResponse` (`response_id`, `model_version`, `usage_metadata`), a
        Bedrock Converse response dict (`usage`, `ResponseMetadata.RequestId`), or a
        mapping of any of these shapes. What is missing is left out. Never raises."""
        call = self._live()
        if call is None:
            return
        usage = _first(response, _USAGE_FIELDS)
        if usage is not None:
            call.record_usage(usage)
        response_id = _first(response, _ID_FIELDS)
        if response_id is None:  # Bedrock: the request id is the only id it gives
            response_id = field(field(response, "ResponseMetadata"), "RequestId")
        self.record_response(id=response_id, model=_first(response, _MODEL_FIELDS))

    @property
    def span(self) -> Span:
        """The call's span (for attributes of your own); an invalid span outside the block."""
        call = self._call
        return call.span if call is not None and not call.ended else trace.INVALID_SPAN

    @property
    def usage(self) -> Usage | None:
        """The last usage recorded, normalised; None if none was."""
        return None if self._call is None else self._call.usage

    # internals

    def _live(self) -> LLMCallSpan | None:
        call = self._call
        return call if call is not None and not call.ended else None

    def _start(self) -> LLMCallSpan:
        try:
            provider = self._tracer_provider
            if provider is None:
                tracer = _global_tracer()
            else:
                tracer = provider.get_tracer(SCOPE_NAME, version())
            return self._new_span(tracer)
        except Exception as exc:  # noqa: BLE001
            _warn.warning("start", "llm_call: could not start a span: %s", exc)
            return self._new_span(trace.NoOpTracer())

    def _new_span(self, tracer: Tracer) -> LLMCallSpan:
        return LLMCallSpan(
            tracer,
            provider=self._provider,
            request_model=self._model,
            operation=self._operation,
            message_count=self._message_count,
        )


def llm_call(
    *,
    model: str,
    provider: str,
    operation: str = "chat",
    message_count: int | None = None,
    tracer_provider: TracerProvider | None = None,
) -> LLMCall:
    """A span for one LLM call your code makes itself: use `with` or `async with`.

    `model` is the requested model and `provider` the `gen_ai.provider.name`
    (`anthropic`, `openai`, ...); `operation` the `gen_ai.operation.name`. A
    `message_count` given here wins over the current session's. Spans come from
    `tracer_provider`, else the global one, under the instrumentation scope
    `otel_token_usage`. See `LLMCall` for what is guaranteed; this never raises.
    """
    return LLMCall(
        model=model,
        provider=provider,
        operation=operation,
        message_count=message_count,
        tracer_provider=tracer_provider,
    )


_USAGE_FIELDS = ("usage", "usage_metadata", "usageMetadata")
_ID_FIELDS = ("id", "response_id", "responseId")
_MODEL_FIELDS = ("model", "model_version", "modelVersion")


def _first(response: object, names: tuple[str, ...]) -> object:
    for name in names:
        value = field(response, name)
        if value is not None:
            return value
    return None


def _text(name: str, value: object, default: str) -> str:
    if isinstance(value, str) and value:
        return value
    _warn.warning(name, "llm_call: %s=%r is not a non-empty string; using %r", name, value, default)
    return default


def _message_count(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return value
    _warn.warning("count", "llm_call: message_count=%r is not an int >= 0; ignored", value)
    return None
