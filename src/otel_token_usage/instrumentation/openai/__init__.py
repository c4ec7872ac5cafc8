"""`OpenAIInstrumentor`: every OpenAI Chat Completions and Responses call becomes one
span with the usage the API billed.

    from otel_token_usage.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider)

It patches `create` of the sync and async `chat.completions` and `responses`
resources (so `chat.completions.stream()` and `responses.stream()`, which call
`create`, are covered too), for every client in the process; `uninstrument()` puts the
original methods back. It is also registered as the `opentelemetry_instrumentor` entry
point `openai_token_usage`, for `opentelemetry-instrument`.

Stream usage: a Chat stream opened without `stream_options.include_usage` reports no
usage, so the instrumentor asks for it and hides what only that produced. It changes the
request only where the hiding is certain: where the `create` it wraps is the SDK's own,
which returns the SDK's `Stream` (or a stream made by a wrapper of the SDK's lower
`request` method, such as OpenInference's or logfire's). Over another wrapper of
`create` (openai-v2, OpenLLMetry, openlit instrumented first), whose stream may be
anything, the request is left as the caller made it; the stream is still observed, so
the span ends with it and carries the usage when the caller asked for it.
`instrument(stream_usage=False)`, or `OTEL_TOKEN_USAGE_OPENAI_STREAM_USAGE=false`, never
asks (for OpenAI-compatible servers that reject `stream_options`).
"""

from __future__ import annotations

import inspect
import logging
import os
import types
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer

from otel_token_usage._util import version
from otel_token_usage.instrumentation.openai._call import Api, SdkTypes, start_call
from otel_token_usage.instrumentation.openai._openai_compat import legacy_response_type
from otel_token_usage.instrumentation.openai._provider import provider_of

__all__ = ["STREAM_USAGE_ENV", "OpenAIInstrumentor"]

_INSTRUMENTS = ("openai >= 1.40",)

STREAM_USAGE_ENV = "OTEL_TOKEN_USAGE_OPENAI_STREAM_USAGE"
"""`false` keeps Chat stream requests exactly as the caller made them (default `true`)."""

_log = logging.getLogger(__name__)

_Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces `chat.completions.create` and `responses.create` of the `openai` SDK,
    sync and async, streamed or not.

    Guarantees, per call:

    - One CLIENT span `chat {model}` through `LLMCallSpan`, with the provider named
      from the client's base URL (`_provider`: `deepseek`, `x_ai`, `groq`,
      `mistral_ai`, `azure.ai.openai`, ...; `openai` for other hosts), with
      `token_usage.message_count` = the current session's message count, else the
      number of request messages (Chat) or input items (Responses), response id and
      model, and the usage the API reported.
    - Streams end their span exactly once: when exhausted, closed, left (`with`), when
      iterating raises, or when garbage-collected unfinished, with whatever usage had
      arrived; also a stream another instrumentation's wrapper returned. A Chat stream
      that did not ask for usage still gets it where the SDK's own `create` is wrapped:
      the request gains `stream_options.include_usage`, and what only that produced is
      hidden, so the caller's code sees the stream it asked for (see the module
      docstring for when the request is left alone).
    - Provider errors reach the caller unchanged (same exception object) and mark the
      span as an error; failures of the instrumentation itself are logged (throttled)
      and never reach the caller.
    - No prompt or completion content is put on spans.

    Results of `with_streaming_response` (body unread) and raw streamed results get a
    span without usage: their body is the caller's to read.
    """

    _patched: list[type[Any]]

    def instrumentation_dependencies(self) -> Collection[str]:
        """The `openai` versions this instrumentor supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        # openai is an optional extra: it is imported only once instrument() has checked
        # that a supported version is installed (the entry point loads this module first).
        from openai import AsyncStream, Stream  # noqa: PLC0415
        from openai.resources.chat import AsyncCompletions, Completions  # noqa: PLC0415

        types = SdkTypes(Stream, AsyncStream, legacy_response_type())
        tracer = trace.get_tracer(
            __name__, version(), tracer_provider=kwargs.get("tracer_provider")
        )
        stream_usage = _stream_usage(kwargs.get("stream_usage"))
        targets: list[tuple[type[Any], Api, bool]] = [
            (Completions, "chat", False),
            (AsyncCompletions, "chat", True),
        ]
        try:
            from openai.resources.responses import AsyncResponses, Responses  # noqa: PLC0415
        except ImportError:  # openai < 1.66 has no Responses API
            pass
        else:
            targets += [(Responses, "responses", False), (AsyncResponses, "responses", True)]
        self._patched = []
        for cls, api, is_async in targets:
            # Asking for stream usage is safe only over the SDK's own `create` (see the
            # module docstring); decided here, before we become a wrapper ourselves.
            ask = stream_usage and _is_sdk_own(cls)
            make = _async_wrapper if is_async else _sync_wrapper
            wrapt.wrap_function_wrapper(cls, "create", make(tracer, api, types, ask))
            self._patched.append(cls)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls in getattr(self, "_patched", ()):
            unwrap(cls, "create")
        self._patched = []


def _stream_usage(given: object) -> bool:
    """`instrument(stream_usage=...)`, else `OTEL_TOKEN_USAGE_OPENAI_STREAM_USAGE`, else
    True. A bad variable is a warning and the default."""
    if isinstance(given, bool):
        return given
    value = os.environ.get(STREAM_USAGE_ENV, "").strip().lower()
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    _log.warning("%s must be true or false, not %r; using true", STREAM_USAGE_ENV, value)
    return True


def _is_sdk_own(cls: type[Any]) -> bool:
    """Whether `cls.create` is the SDK's own method, not another instrumentation's
    wrapper (wrapt proxies, or functions of another package patched in)."""
    # A plain function of the SDK (its own decorators keep it one). type(), not
    # isinstance(): a wrapt proxy passes for the function it wraps. Another package's
    # function names its own module.
    method = inspect.getattr_static(cls, "create", None)
    return type(method) is types.FunctionType and method.__module__.startswith("openai.")


def _sync_wrapper(tracer: Tracer, api: Api, types: SdkTypes, ask: bool) -> _Wrapper:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = start_call(tracer, api, kwargs, provider_of(instance), ask_usage=ask, is_async=False)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            with trace.use_span(
                call.llm.span,
                end_on_exit=False,
                record_exception=False,
                set_status_on_exception=False,
            ):
                result = wrapped(*args, **call.kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.finish(result, types)

    return wrapper


def _async_wrapper(tracer: Tracer, api: Api, types: SdkTypes, ask: bool) -> _Wrapper:
    async def wrapper(
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        call = start_call(tracer, api, kwargs, provider_of(instance), ask_usage=ask, is_async=True)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            with trace.use_span(
                call.llm.span,
                end_on_exit=False,
                record_exception=False,
                set_status_on_exception=False,
            ):
                result = await wrapped(*args, **call.kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.finish(result, types)

    return wrapper
