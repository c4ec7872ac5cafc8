"""Stream proxies shared by the instrumentors: the SDK's stream, observed, whose call's
span ends exactly once.

`StreamProxy` / `AsyncStreamProxy` wrap a provider SDK's `Stream` / `AsyncStream` (or a
generator / async generator, or botocore's `EventStream`).
Each item goes to the observer first (which may hide it from the caller, as the OpenAI
instrumentor does with the usage chunk it asked for), and the observer's `finish` runs
once: at exhaustion, `close()`, context exit, an exception while iterating, or when the
proxy is garbage-collected unfinished (a `weakref.finalize`, which holds the observer
but never the proxy). To the application each proxy is the wrapped stream (attributes,
`isinstance`), except that entering it as a context manager yields the proxy itself, so
the items keep passing through it.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

__all__ = ["AsyncStreamProxy", "ObjectProxy", "StreamObserver", "StreamProxy"]

if TYPE_CHECKING:
    ObjectProxy = wrapt.ObjectProxy[Any]
else:  # wrapt 1.x proxies are not subscriptable at runtime
    ObjectProxy = wrapt.ObjectProxy
"""The base of every proxy the instrumentors hand the application: to it, the proxy is
the wrapped SDK object (attributes, `isinstance`)."""


class StreamObserver(Protocol):
    """What a stream proxy reports to: each item, then the end (exactly once)."""

    def observe(self, item: object) -> bool:
        """Record what `item` says; False hides it from the caller. Never raises."""
        ...

    def finish(self, error: BaseException | None = None) -> None:
        """End the call's span (later calls do nothing). Never raises."""
        ...


class _Observed(ObjectProxy):
    def __init__(self, stream: object, observer: StreamObserver) -> None:
        super().__init__(stream)
        self._self_observer = observer
        self._self_finalizer = weakref.finalize(self, observer.finish)

    def _self_finish(self, error: BaseException | None = None) -> None:
        self._self_finalizer.detach()
        self._self_observer.finish(error)


class StreamProxy(_Observed):
    """A sync SDK stream whose items feed its observer, finished exactly once.

    The items come from the stream itself, or from `items` when the stream is only an
    iterable (botocore's `EventStream`): then `items` is `iter(stream)`."""

    def __init__(
        self, stream: object, observer: StreamObserver, items: Iterator[Any] | None = None
    ) -> None:
        super().__init__(stream, observer)
        self._self_items = items

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        items = self._self_items if self._self_items is not None else self.__wrapped__
        while True:
            try:
                item = items.__next__()
            except StopIteration:
                self._self_finish()
                raise
            except BaseException as exc:
                self._self_finish(exc)
                raise
            if self._self_observer.observe(item):
                return item

    def close(self) -> None:
        """Close the SDK stream, then finish with what arrived."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_finish()

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStreamProxy(_Observed):
    """An async SDK stream whose items feed its observer, finished exactly once."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                self._self_finish()
                raise
            except BaseException as exc:
                self._self_finish(exc)
                raise
            if self._self_observer.observe(item):
                return item

    async def close(self) -> None:
        """Close the SDK stream (`close()`, or `aclose()` for an async generator), then
        finish with what arrived."""
        try:
            closing = getattr(self.__wrapped__, "close", None)
            await (closing() if closing is not None else self.__wrapped__.aclose())
        finally:
            self._self_finish()

    async def aclose(self) -> None:
        """Alias of `close()`, as on the SDKs' async streams."""
        await self.close()

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
