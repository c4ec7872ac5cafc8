"""`OpenAIInstrumentor`: every OpenAI Chat Completions and Responses call becomes one
span with the usage the API billed.

    from otel_token_usage.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider)

It patches `create` of the sync and async `chat.completions` and `responses`
resources (so `chat.completions.stream()` and `responses.stream()`, which call
`create`, are covered too), for every client in the process; `uninstrument()` puts the
original methods back. It is also registered as the `opentelemetry_instrumentor` entry
point `openai_token_usage`, for `opentelemetry-instrument`.
"""

from __future__ import annotations

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

__all__ = ["OpenAIInstrumentor"]

_INSTRUMENTS = ("openai >= 1.40",)

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
      arrived. A Chat stream that did not ask for usage still gets it: the request
      gains `stream_options.include_usage`, and what only that produced is hidden, so
      the caller's code sees the stream it asked for.
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
        targets: list[tuple[type[Any], _Wrapper]] = [
            (Completions, _sync_wrapper(tracer, "chat", types)),
            (AsyncCompletions, _async_wrapper(tracer, "chat", types)),
        ]
        try:
            from openai.resources.responses import AsyncResponses, Responses  # noqa: PLC0415
        except ImportError:  # openai < 1.66 has no Responses API
            pass
        else:
            targets += [
                (Responses, _sync_wrapper(tracer, "responses", types)),
                (AsyncResponses, _async_wrapper(tracer, "responses", types)),
            ]
        self._patched = []
        for cls, wrapper in targets:
            wrapt.wrap_function_wrapper(cls, "create", wrapper)
            self._patched.append(cls)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls in getattr(self, "_patched", ()):
            unwrap(cls, "create")
        self._patched = []


def _sync_wrapper(tracer: Tracer, api: Api, types: SdkTypes) -> _Wrapper:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = start_call(tracer, api, kwargs, provider_of(instance))
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


def _async_wrapper(tracer: Tracer, api: Api, types: SdkTypes) -> _Wrapper:
    async def wrapper(
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        call = start_call(tracer, api, kwargs, provider_of(instance))
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
