"""`GoogleGenAIInstrumentor`: every Gemini / Vertex AI request made through `google-genai`
becomes one span with the usage the API billed.

    from otel_token_usage.instrumentation.google_genai import GoogleGenAIInstrumentor

    GoogleGenAIInstrumentor().instrument(tracer_provider=provider)

Covers `client.models.generate_content` and `generate_content_stream`, sync and async
(`client.aio.models`), and everything built on them (chats). One span per HTTP request,
not per public call: with automatic function calling (Python functions as tools) the SDK
sends a request per model turn and returns only the last response, and with automatic
continuation it sends a request per hop; each request is billed, so each is a span and a
line (see `_google_genai_compat` for the private methods this needs and the fallback).

Each span is a CLIENT span `generate_content {model}` (the conventions' operation for
Gemini) through `LLMCallSpan`: provider `gcp.gemini` (Gemini API) or `gcp.vertex_ai`
(`vertexai=True` clients), request model as given, `gen_ai.response.model` =
`model_version`, `gen_ai.response.id` = `response_id`, message count (the current
`session()`'s, else the request's contents), and usage from `usage_metadata` normalised
by `usage.normalize_usage` (input = prompt + tool-use prompt, cached reads, output =
candidates + thoughts, thinking = thoughts). A stream's usage is its last chunk's (the
counts are running totals); it ends its span exactly once: exhausted, closed, broken, or
garbage-collected unfinished, with the usage that had arrived. Provider errors reach the
caller unchanged and mark the span as failed; our own failures are logged (throttled)
and never reach the caller. No prompt or completion content is recorded.

Registered as the `opentelemetry_instrumentor` entry point `google_genai_token_usage`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer

from otel_token_usage._util import version
from otel_token_usage.instrumentation._stream import AsyncStreamProxy, StreamProxy
from otel_token_usage.instrumentation.google_genai._call import GeminiCall, start_call
from otel_token_usage.instrumentation.google_genai._google_genai_compat import (
    MODULE,
    Kind,
    targets,
)

__all__ = ["GoogleGenAIInstrumentor"]

_INSTRUMENTS = ("google-genai >= 1.32",)

_Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


class GoogleGenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments `google-genai` so that each Gemini request is one span with its exact
    usage (see the module docstring). `instrument(tracer_provider=...)` patches the SDK's
    classes, so clients built before and after are covered; `uninstrument()` restores
    the original methods."""

    _patched: tuple[tuple[str, str, Kind], ...]

    def instrumentation_dependencies(self) -> Collection[str]:
        """The `google-genai` versions this instrumentor supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            __name__, version(), tracer_provider=kwargs.get("tracer_provider")
        )
        self._patched = targets()
        for owner, name, kind in self._patched:
            wrapt.wrap_function_wrapper(MODULE, f"{owner}.{name}", _WRAPPERS[kind](tracer))

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name, _ in getattr(self, "_patched", ()):
            unwrap(f"{MODULE}.{owner}", name)
        self._patched = ()


_HandOver = Callable[[GeminiCall, Any], Any]


def _sync(tracer: Tracer, hand_over: _HandOver) -> _Wrapper:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = start_call(tracer, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            with call.current():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        return hand_over(call, result)

    return wrapper


def _async(tracer: Tracer, hand_over: _HandOver) -> _Wrapper:
    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = start_call(tracer, instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            with call.current():
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        return hand_over(call, result)

    return wrapper


def _answered(call: GeminiCall, response: Any) -> Any:
    call.observe(response)
    call.finish()
    return response


def _proxied(proxy: type[StreamProxy | AsyncStreamProxy]) -> _HandOver:
    # The sync stream is a generator (its request goes out on the first `next()`); the
    # async one an async generator that awaiting the call gave.
    def hand_over(call: GeminiCall, chunks: Any) -> Any:
        try:
            return proxy(chunks, call)
        except Exception:  # noqa: BLE001 - the caller gets its stream regardless
            call.finish()
            return chunks

    return hand_over


_WRAPPERS: dict[Kind, Callable[[Tracer], _Wrapper]] = {
    "json": partial(_sync, hand_over=_answered),
    "async_json": partial(_async, hand_over=_answered),
    "stream": partial(_sync, hand_over=_proxied(StreamProxy)),
    "async_stream": partial(_async, hand_over=_proxied(AsyncStreamProxy)),
}
