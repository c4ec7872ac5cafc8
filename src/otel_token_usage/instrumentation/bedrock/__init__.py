"""`BedrockInstrumentor`: every AWS Bedrock `Converse` and `ConverseStream` call made
through `boto3` / `botocore` becomes one span with the usage the API billed.

    from otel_token_usage.instrumentation.bedrock import BedrockInstrumentor

    BedrockInstrumentor().instrument(tracer_provider=provider)

Public botocore hooks only: `Session.create_client` is wrapped so that each
`bedrock-runtime` client created afterwards gets our handlers on its own event system
(`_hooks`); clients created before `instrument()` are not traced. Each API call (its
retries included) is one CLIENT span `chat {modelId}` through `LLMCallSpan`: provider
`aws.bedrock`, the request's `modelId` as the model (Bedrock names no response model:
keep the inference-profile prefix, `us.` / `global.`, it changes the price),
`gen_ai.response.id` = the request id, the message count (the current `session()`'s,
else the request's messages), and usage normalised by `usage.normalize_usage`
(`inputTokens` is the fresh input; inclusive input adds the cache read and write; the
5m/1h split from `cacheDetails`; Bedrock reports no thinking count, so thinking stays
inside the output).

ConverseStream: the `stream` the caller gets is a proxy of botocore's `EventStream`
whose `metadata` event (the last) carries the usage; the span ends exactly once, when the
stream ends, is closed, raises (an in-stream exception), or is garbage-collected
unfinished, with the usage that had arrived (none before `metadata`).

Errors: botocore raises them unchanged; the span is marked failed (`error.type` = the
API's error code, or the exception's class). `InvokeModel` is not covered (Claude bodies
through `anthropic.AnthropicBedrock` are, by `AnthropicInstrumentor`); aiobotocore
neither. No prompt or completion content is recorded. Registered as the
`opentelemetry_instrumentor` entry point `bedrock_token_usage`.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap

from otel_token_usage._util import ThrottledLogger, version
from otel_token_usage.instrumentation.bedrock._hooks import SERVICE, Hooks

__all__ = ["BedrockInstrumentor"]

_INSTRUMENTS = ("botocore >= 1.35",)

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class BedrockInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments `botocore` so that each Bedrock Converse call is one span with its
    exact usage (see the module docstring). `uninstrument()` stops wrapping client
    creation and removes our handlers from every client they were added to."""

    _hooks: Hooks | None = None
    _clients: weakref.WeakSet[Any]

    def instrumentation_dependencies(self) -> Collection[str]:
        """The `botocore` versions this instrumentor supports."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            __name__, version(), tracer_provider=kwargs.get("tracer_provider")
        )
        self._hooks = Hooks(tracer, f"otel_token_usage.{id(self)}")
        self._clients = weakref.WeakSet()
        wrapt.wrap_function_wrapper("botocore.session", "Session.create_client", self._created)

    def _uninstrument(self, **kwargs: Any) -> None:
        unwrap("botocore.session.Session", "create_client")
        hooks, self._hooks = self._hooks, None
        if hooks is None:
            return
        for client in list(self._clients):
            for name, _handler, unique_id, _last in hooks.registrations():
                client.meta.events.unregister(name, unique_id=unique_id)
        self._clients = weakref.WeakSet()

    def _created(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        client = wrapped(*args, **kwargs)
        hooks = self._hooks
        if hooks is None:
            return client
        try:
            if client.meta.service_model.service_name == SERVICE:
                events = client.meta.events
                for name, handler, unique_id, last in hooks.registrations():
                    register = events.register_last if last else events.register
                    register(name, handler, unique_id=unique_id)
                self._clients.add(client)
        except Exception as exc:  # noqa: BLE001 - the caller gets its client regardless
            _warn.warning("client", "could not instrument a Bedrock client: %s", exc)
        return client
