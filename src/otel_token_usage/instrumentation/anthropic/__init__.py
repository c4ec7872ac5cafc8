"""`AnthropicInstrumentor`: every Anthropic Messages call one span with its exact usage.

Wraps, sync and async, `Messages.create` (JSON and `stream=True`) and
`Messages.stream(...)`. Each call becomes one CLIENT span "chat {model}" through
`LLMCallSpan`: provider, request model, message count (the
current `session()`'s when it gives one, else the number of request messages),
response id and model, and usage normalised by `usage.normalize_usage` (inclusive
input, cache read/write with the 5m/1h split, thinking tokens).

Native tracing: where the client will emit the SDK's own `anthropic.messages.create`
span for the call, we add no second span and pass the call through untouched (the rule
is in `_anthropic_compat`). That is decided per call, so clients built with
`open_telemetry=False` (or under `ANTHROPIC_OPEN_TELEMETRY=false`, or on SDKs that do not
trace) get our span while natively traced clients in the same process keep theirs.

`with_raw_response.create(...)` is traced too (its message is parsed from the raw
response, which the SDK caches for the caller); `with_streaming_response` and raw
streams are passed through, since their body is the caller's to read.

Errors: the provider's exceptions reach the caller unchanged, after the span is marked
as failed (`error.type`, status ERROR); failures of our own bookkeeping are logged
(throttled) and never reach the caller. No prompt or completion content is recorded
unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer

from otel_token_usage._session import current_session
from otel_token_usage._util import ThrottledLogger, version
from otel_token_usage.instrumentation._span import LLMCallSpan, capture_content
from otel_token_usage.instrumentation._stream import AsyncStreamProxy, StreamProxy
from otel_token_usage.instrumentation.anthropic._anthropic_compat import (
    native_span_expected,
    platform_provider,
)
from otel_token_usage.instrumentation.anthropic._call import AnthropicCall
from otel_token_usage.instrumentation.anthropic._content import input_content
from otel_token_usage.instrumentation.anthropic._stream import (
    AsyncStreamManagerProxy,
    StreamManagerProxy,
)

__all__ = ["AnthropicInstrumentor"]

_INSTRUMENTS = ("anthropic >= 0.40",)
_MESSAGES_MODULE = "anthropic.resources.messages.messages"
# (class, method, our wrapper's name)
_PATCHED = (
    ("Messages", "create", "_create"),
    ("Messages", "stream", "_stream"),
    ("AsyncMessages", "create", "_acreate"),
    ("AsyncMessages", "stream", "_astream"),
)
# The SDK marks requests whose result is an HTTP response, not a message, with this.
_RAW_RESPONSE_HEADER = "x-stainless-raw-response"
_PROVIDER = "anthropic"

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the `anthropic` SDK so that each Messages call is one span with its
    exact usage (see the module docstring for what is covered and when we stand back).

    `instrument(tracer_provider=...)` patches the SDK classes in place, so clients built
    before and after are both covered; `uninstrument()` restores the original methods
    exactly. Calls never fail because of this instrumentation.
    """

    # Set by `_instrument`; BaseInstrumentor is a singleton, so no __init__ may reset it.
    _llm_tracer: Tracer

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentor supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        self._llm_tracer = trace.get_tracer(
            __name__, version(), tracer_provider=kwargs.get("tracer_provider")
        )
        for owner, name, wrapper in _PATCHED:
            wrapt.wrap_function_wrapper(_MESSAGES_MODULE, f"{owner}.{name}", getattr(self, wrapper))

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name, _ in _PATCHED:
            unwrap(f"{_MESSAGES_MODULE}.{owner}", name)

    # wrappers (wrapt's signature: the original, the resource, its args and kwargs)

    def _create(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = self._start(instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            with call.current():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        if _raw_kind(kwargs) is not None:
            return _hand_over_raw(call, result)
        return _hand_over(call, result, StreamProxy, "__next__")

    async def _acreate(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = self._start(instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            with call.current():
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        if _raw_kind(kwargs) is not None:
            return await _ahand_over_raw(call, result)
        return _hand_over(call, result, AsyncStreamProxy, "__anext__")

    def _stream(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return self._manager(StreamManagerProxy, wrapped(*args, **kwargs), instance, kwargs)

    def _astream(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return self._manager(AsyncStreamManagerProxy, wrapped(*args, **kwargs), instance, kwargs)

    def _manager(
        self, proxy: type[Any], manager: Any, instance: object, request: Mapping[str, Any]
    ) -> Any:
        """`messages.stream(...)` sends nothing until entered: the span starts there."""
        try:
            return proxy(manager, partial(self._start, instance, request))
        except Exception as exc:  # noqa: BLE001
            _warn.warning("wrap", "could not instrument an Anthropic message stream: %s", exc)
            return manager

    def _start(self, instance: object, request: Mapping[str, Any]) -> AnthropicCall | None:
        """The span of a call about to be sent, or None when it is not ours to trace
        (native span, unread response body) or its span could not start. Never raises."""
        try:
            raw = _raw_kind(request)
            if raw is not None and (raw != "raw" or request.get("stream") is True):
                # `with_streaming_response`, or a raw stream: the body is the caller's
                # to read, and no message reaches us.
                return None
            if native_span_expected(instance):
                return None
            model = request.get("model")
            capture = capture_content()
            span = LLMCallSpan(
                self._llm_tracer,
                provider=_provider_name(instance),
                request_model=model if isinstance(model, str) else "",
                message_count=_message_count(request),
                attributes=input_content(request) if capture else None,
            )
            return AnthropicCall(span, capture_content=capture)
        except Exception as exc:  # noqa: BLE001 - the call goes on without our span
            _warn.warning("start", "could not start an Anthropic call span: %s", exc)
            return None


def _hand_over(call: AnthropicCall, result: Any, proxy: type[Any], next_method: str) -> Any:
    """What the caller gets: a stream proxy that finishes the call later, or the message
    itself with the call finished now. Never raises."""
    try:
        if hasattr(result, next_method):
            return proxy(result, call)
        call.record_message(result)
    except Exception as exc:  # noqa: BLE001
        _warn.warning("result", "could not read an Anthropic response: %s", exc)
    call.finish()
    return result


def _hand_over_raw(call: AnthropicCall, result: Any) -> Any:
    """A `with_raw_response` result: its message is parsed (the SDK caches it for the
    caller's own `parse()`) and recorded; the caller gets the raw response. Never raises."""
    try:
        call.record_message(result.parse())
    except Exception as exc:  # noqa: BLE001 - the caller's own parse() will tell them
        _warn.warning("raw", "could not read an Anthropic raw response: %s", exc)
    call.finish()
    return result


async def _ahand_over_raw(call: AnthropicCall, result: Any) -> Any:
    """`_hand_over_raw` for the async client, whose `parse()` is a coroutine."""
    try:
        call.record_message(await result.parse())
    except Exception as exc:  # noqa: BLE001
        _warn.warning("raw", "could not read an Anthropic raw response: %s", exc)
    call.finish()
    return result


def _raw_kind(request: Mapping[str, Any]) -> str | None:
    """`raw` (`with_raw_response`), `stream` (`with_streaming_response`) or None."""
    headers = request.get("extra_headers")
    if not isinstance(headers, Mapping) or not headers:
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == _RAW_RESPONSE_HEADER:
            return str(value).lower()
    return None


def _message_count(request: Mapping[str, Any]) -> int | None:
    """The session's message count when it gives one, else the request's messages."""
    active = current_session()
    if active is not None and active.message_count is not None:
        return active.message_count
    messages = request.get("messages")
    # Any other iterable (a generator) cannot be counted without consuming it.
    return len(messages) if isinstance(messages, Sequence) else None


def _provider_name(instance: object) -> str:
    # Platform clients (Bedrock, Vertex) name their provider as the conventions do.
    return platform_provider(instance) or _PROVIDER
