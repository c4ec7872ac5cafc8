"""One instrumented OpenAI call: read the request, start its span, handle the result.

Everything here is the instrumentor's own work and never raises into the caller: a
failure is logged (throttled) and the call goes on untraced or with what was recorded.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.trace import Tracer

from otel_token_usage._session import current_session
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.instrumentation._span import LLMCallSpan
from otel_token_usage.instrumentation._stream import AsyncStreamProxy, StreamProxy
from otel_token_usage.instrumentation.openai._stream import ChatChunks, ResponseEvents

__all__ = ["Api", "OpenAICall", "SdkTypes", "start_call"]

Api = Literal["chat", "responses"]

PROVIDER = "openai"

# The SDK's `with_raw_response` / `with_streaming_response` set this header; their
# results are response wrappers, not the parsed body (openai._constants).
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


@dataclass(frozen=True, slots=True)
class SdkTypes:
    """The SDK classes results are told apart by (imported once, at instrument time)."""

    stream: type[Any]
    async_stream: type[Any]
    legacy_response: type[Any] | None


@dataclass(slots=True)
class OpenAICall:
    """A call in flight: its span, and the keyword arguments to call the SDK with
    (the caller's, or a copy asking for stream usage)."""

    llm: LLMCallSpan
    api: Api
    kwargs: dict[str, Any]
    stream: bool
    hide_usage: bool
    raw: bool
    is_async: bool

    def fail(self, error: BaseException) -> None:
        """The SDK raised `error`: end the span as failed. Never raises."""
        self.llm.end(error)

    def finish(self, result: Any, types: SdkTypes) -> Any:
        """What to hand the caller for the SDK's `result`: a stream proxy, or `result`
        itself after recording its usage and ending the span. Never raises."""
        try:
            if self.stream and not self.raw:
                # The SDK's stream, or another instrumentation's wrapper of it (openai-v2's
                # and openlit's are no `Stream`): observed alike, so the span ends with it.
                if self.is_async:
                    if isinstance(result, types.async_stream) or _is_async_stream(result):
                        return AsyncStreamProxy(result, self._observer())
                elif isinstance(result, types.stream) or _is_sync_stream(result):
                    return StreamProxy(result, self._observer())
            elif not self.stream:
                _record(self.llm, _raw_body(result, types) if self.raw else result)
        except Exception as exc:  # noqa: BLE001 - the caller gets its result regardless
            _warn.warning("result", "could not record an OpenAI result: %s", exc)
        self.llm.end()
        return result

    def _observer(self) -> ChatChunks | ResponseEvents:
        if self.api == "chat":
            return ChatChunks(self.llm, hide_usage=self.hide_usage)
        return ResponseEvents(self.llm)


def start_call(
    tracer: Tracer,
    api: Api,
    kwargs: dict[str, Any],
    provider: str = PROVIDER,
    *,
    ask_usage: bool,
    is_async: bool,
) -> OpenAICall | None:
    """Start the span of a `create` call to `provider`; None (untraced) if that fails.
    Never raises.

    With `ask_usage`, a Chat stream request that does not ask for usage is given
    `stream_options.include_usage` (and the stream hides what only that produced)."""
    try:
        stream = _truthy(kwargs.get("stream"))
        raw = _is_raw(kwargs.get("extra_headers"))
        hide_usage = False
        if ask_usage and api == "chat" and stream and not raw and not _asks_usage(kwargs):
            kwargs = {**kwargs, "stream_options": _with_usage(kwargs.get("stream_options"))}
            hide_usage = True
        model = kwargs.get("model")
        llm = LLMCallSpan(
            tracer,
            provider=provider,
            request_model=model if isinstance(model, str) else "",
            message_count=_message_count(api, kwargs),
        )
        return OpenAICall(llm, api, kwargs, stream, hide_usage, raw, is_async)
    except Exception as exc:  # noqa: BLE001
        _warn.warning("start", "could not start a span for an OpenAI call: %s", exc)
        return None


def _is_sync_stream(result: object) -> bool:
    return callable(getattr(result, "__next__", None))


def _is_async_stream(result: object) -> bool:
    return callable(getattr(result, "__anext__", None))


def _truthy(value: object) -> bool:
    # The SDK's own test (`stream or False`): its `omit` / `NOT_GIVEN` are falsy.
    try:
        return bool(value)
    except Exception:  # noqa: BLE001
        return False


def _is_raw(headers: object) -> bool:
    return isinstance(headers, Mapping) and _RAW_RESPONSE_HEADER in headers


def _asks_usage(kwargs: Mapping[str, Any]) -> bool:
    """Whether the caller asked for stream usage, or sets `stream_options` through
    `extra_body` (which would override ours: then we leave the request alone)."""
    extra_body = kwargs.get("extra_body")
    if isinstance(extra_body, Mapping) and "stream_options" in extra_body:
        return True
    options = kwargs.get("stream_options")
    return isinstance(options, Mapping) and _truthy(options.get("include_usage"))


def _with_usage(options: object) -> dict[str, Any]:
    base = dict(options) if isinstance(options, Mapping) else {}
    base["include_usage"] = True
    return base


def _message_count(api: Api, kwargs: Mapping[str, Any]) -> int | None:
    """The current session's message count, else the request's messages (Chat) or
    input items (Responses). The session processor never overwrites a count already on
    the span, so the session's must be chosen here."""
    active = current_session()
    if active is not None and active.message_count is not None:
        return active.message_count
    items = kwargs.get("messages" if api == "chat" else "input")
    if isinstance(items, str):
        return 1 if api == "responses" else None
    if isinstance(items, Sequence):
        return len(items)
    # Other iterables (generators) cannot be counted without consuming them.
    return None


def _raw_body(result: Any, types: SdkTypes) -> Any:
    """The parsed body of a `with_raw_response` result (the SDK caches it for the
    caller's own `parse()`); None for `with_streaming_response`, whose body is unread
    and the caller's to read."""
    if types.legacy_response is None or not isinstance(result, types.legacy_response):
        return None
    parsed = result.parse()
    if inspect.iscoroutine(parsed):  # a future SDK's async parse(): not ours to await
        parsed.close()
        return None
    return parsed


def _record(llm: LLMCallSpan, response: Any) -> None:
    if response is None:
        return
    llm.record_response(
        response_id=getattr(response, "id", None),
        response_model=getattr(response, "model", None),
    )
    usage = getattr(response, "usage", None)
    if usage is not None:
        llm.record_usage(usage)
