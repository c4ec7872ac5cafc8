"""Wrappers that keep an Anthropic call's span open for as long as its stream lives.

- The raw `Stream` / `AsyncStream` of `messages.create(stream=True)` is wrapped in the
  shared `_stream.StreamProxy` / `AsyncStreamProxy`, with the `AnthropicCall` as its
  observer (see there for when the call finishes).
- `StreamManagerProxy` / `AsyncStreamManagerProxy` wrap what `messages.stream(...)`
  returns. The request is sent on `__enter__`, so that is where the span starts; the
  `MessageStream` it yields reads its events from `_raw_stream`, which is replaced by a
  stream proxy, so iteration, `text_stream`, `until_done()` and `get_final_message()`
  all pass through the same single finish.

Each proxy is the wrapped object to the application (attributes, `isinstance`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import wrapt

from otel_token_usage._util import ThrottledLogger
from otel_token_usage.instrumentation._stream import AsyncStreamProxy, StreamProxy
from otel_token_usage.instrumentation.anthropic._call import AnthropicCall

__all__ = ["AsyncStreamManagerProxy", "StreamManagerProxy"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:  # wrapt 1.x proxies are not subscriptable at runtime
    _Proxy = wrapt.ObjectProxy

StartCall = Callable[[], AnthropicCall | None]
"""Starts the span of a call, or returns None when this call is not ours to trace."""


class StreamManagerProxy(_Proxy):
    """What `Messages.stream(...)` returns, with the call's span from `__enter__` on."""

    def __init__(self, wrapped: object, start: StartCall) -> None:
        super().__init__(wrapped)
        self._self_start = start
        self._self_call: AnthropicCall | None = None
        self._self_stream: object = None

    def __enter__(self) -> Any:
        call = self._self_start()
        if call is None:
            return self.__wrapped__.__enter__()
        try:
            with call.current():
                stream = self.__wrapped__.__enter__()
        except BaseException as exc:
            call.finish(exc)
            raise
        self._self_call, self._self_stream = call, stream
        _feed(stream, call, StreamProxy)
        return stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            _settle(self._self_call, self._self_stream)


class AsyncStreamManagerProxy(_Proxy):
    """What `AsyncMessages.stream(...)` returns, with the call's span from `__aenter__` on."""

    def __init__(self, wrapped: object, start: StartCall) -> None:
        super().__init__(wrapped)
        self._self_start = start
        self._self_call: AnthropicCall | None = None
        self._self_stream: object = None

    async def __aenter__(self) -> Any:
        call = self._self_start()
        if call is None:
            return await self.__wrapped__.__aenter__()
        try:
            with call.current():
                stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            call.finish(exc)
            raise
        self._self_call, self._self_stream = call, stream
        _feed(stream, call, AsyncStreamProxy)
        return stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            _settle(self._self_call, self._self_stream)


def _feed(stream: object, call: AnthropicCall, proxy: type[StreamProxy | AsyncStreamProxy]) -> None:
    """Route a `MessageStream`'s raw events through a proxy that feeds `call`."""
    try:
        raw = getattr(stream, "_raw_stream", None)
        if raw is not None:
            # The MessageStream reads `_raw_stream` lazily, on its first event.
            stream._raw_stream = proxy(raw, call)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - then _settle reads the final snapshot
        _warn.warning("feed", "could not observe an Anthropic message stream: %s", exc)


def _settle(call: AnthropicCall | None, stream: object) -> None:
    """At the manager's exit: finish a call whose events could not be observed, from the
    stream's accumulated message. A call already finished is left alone."""
    if call is None or call.finished:
        return
    try:
        snapshot = getattr(stream, "_current_snapshot_or_none", None)
        message = snapshot() if callable(snapshot) else None
        if message is not None:
            call.record_message(message)
    except Exception as exc:  # noqa: BLE001
        _warn.warning("settle", "could not read an Anthropic stream's final message: %s", exc)
    call.finish()
