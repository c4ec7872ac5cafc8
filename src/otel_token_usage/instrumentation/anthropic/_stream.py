"""Wrappers that keep an Anthropic call's span open for as long as its stream lives.

- The raw `Stream` / `AsyncStream` of `messages.create(stream=True)` is wrapped in the
  shared `_stream.StreamProxy` / `AsyncStreamProxy`, with the `AnthropicCall` as its
  observer (see there for when the call finishes).
- `StreamManagerProxy` / `AsyncStreamManagerProxy` wrap what `messages.stream(...)`
  returns. The request is sent on `__enter__`, so that is where the span starts. The
  caller gets the `MessageStream` inside a stream proxy: events it iterates are
  observed as they pass (so a stream dropped unfinished, even without leaving the
  `with` block, still ends its span with what arrived). Whatever the SDK reads past the
  proxy (`text_stream`, `until_done()`, `get_final_message()`) accumulates into the
  stream's public `current_message_snapshot`, from which the call is finished when the
  `with` block is left, also early or by an exception.

Each proxy is the wrapped object to the application (attributes, `isinstance`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from otel_token_usage._util import ThrottledLogger
from otel_token_usage.instrumentation._stream import AsyncStreamProxy, ObjectProxy, StreamProxy
from otel_token_usage.instrumentation.anthropic._call import AnthropicCall

__all__ = ["AsyncStreamManagerProxy", "StreamManagerProxy"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


StartCall = Callable[[], AnthropicCall | None]
"""Starts the span of a call, or returns None when this call is not ours to trace."""


class StreamManagerProxy(ObjectProxy):
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
        return StreamProxy(stream, call)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            _settle(self._self_call, self._self_stream, exc)


class AsyncStreamManagerProxy(ObjectProxy):
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
        return AsyncStreamProxy(stream, call)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            _settle(self._self_call, self._self_stream, exc)


def _settle(call: AnthropicCall | None, stream: object, error: BaseException | None) -> None:
    """At the manager's exit: finish the call from the stream's accumulated message (the
    public `current_message_snapshot`, which asserts until `message_start` arrived), as
    failed if the block was left by an exception. A call already finished is left alone."""
    if call is None or call.finished:
        return
    try:
        message = stream.current_message_snapshot  # type: ignore[attr-defined]
    except AssertionError:
        message = None  # nothing arrived yet
    except Exception as exc:  # noqa: BLE001
        _warn.warning("settle", "could not read an Anthropic stream's message: %s", exc)
        message = None
    if message is not None:
        call.record_message(message)
    call.finish(error if isinstance(error, Exception) else None)
