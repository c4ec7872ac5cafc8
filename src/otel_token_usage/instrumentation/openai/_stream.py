"""Streams of the OpenAI SDK, observed: usage recorded, span ended exactly once.

`StreamProxy` / `AsyncStreamProxy` stand in for the SDK's `Stream` / `AsyncStream`
(every attribute passes through) and hand each item to an observer before the caller
sees it. The span ends at the first of: exhaustion, an exception while iterating,
`close()`, leaving the `with` block, or garbage collection of an unfinished stream.

`ChatChunks` reads Chat Completions chunks. When the instrumentor added
`stream_options.include_usage` to a request that did not ask for it, it hides what
only that option produced, so the caller sees the stream it asked for: the final
usage-only chunk (empty `choices`) is dropped, and on the other chunks the `usage`
field (`null`, or a count some servers attach to a content chunk) is returned to
its unset state. Nothing else about any chunk changes.

`ResponseEvents` reads Responses API events: id and model from the response
lifecycle events, usage from `response.completed` (or `.incomplete` / `.failed`).
"""

from __future__ import annotations

import logging

from opentelemetry.trace import Status, StatusCode

from otel_token_usage import semconv as a
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.instrumentation._span import LLMCallSpan
from otel_token_usage.instrumentation.openai._openai_compat import unset_usage

__all__ = ["ChatChunks", "ResponseEvents"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)

_RESPONSE_LIFECYCLE = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
    }
)


class _Observer:
    __slots__ = ("_failure", "llm")

    def __init__(self, llm: LLMCallSpan) -> None:
        self.llm = llm
        self._failure: tuple[str, str] | None = None

    def fail(self, error_type: str, message: str) -> None:
        """Remember an error the stream reported as data rather than raised."""
        self._failure = (error_type, message)

    def finish(self, error: BaseException | None = None) -> None:
        llm = self.llm
        if llm.ended:
            return
        try:
            if error is None and self._failure is not None:
                error_type, message = self._failure
                llm.span.set_attribute(a.ERROR_TYPE, error_type)
                llm.span.set_status(Status(StatusCode.ERROR, message))
        except Exception as exc:  # noqa: BLE001 - never reach the caller
            _warn.warning("finish", "could not mark an OpenAI stream's span failed: %s", exc)
        llm.end(error)


class ChatChunks(_Observer):
    """Observer of a Chat Completions stream; with `hide_usage`, it undoes what the
    instrumentor's `include_usage` added (see the module docstring)."""

    __slots__ = ("_hide_usage", "_identified")

    def __init__(self, llm: LLMCallSpan, *, hide_usage: bool) -> None:
        super().__init__(llm)
        self._hide_usage = hide_usage
        self._identified = False

    def observe(self, item: object) -> bool:
        """Record id, model and usage of `item`; False for a chunk to hide."""
        try:
            if not self._identified:
                response_id = getattr(item, "id", None)
                if response_id:
                    self._identified = True
                    self.llm.record_response(
                        response_id=response_id, response_model=getattr(item, "model", None)
                    )
            usage = getattr(item, "usage", None)
            if usage is not None:
                self.llm.record_usage(usage)
            if not self._hide_usage:
                return True
            if usage is not None and not getattr(item, "choices", None):
                return False
            unset_usage(item, usage)
            return True
        except Exception as exc:  # noqa: BLE001
            _warn.warning("chunk", "could not read an OpenAI chat chunk: %s", exc)
            return True


class ResponseEvents(_Observer):
    """Observer of a Responses API stream: passes every event through."""

    __slots__ = ()

    def observe(self, item: object) -> bool:
        """Record id, model and usage from lifecycle events; remember error events."""
        try:
            kind = getattr(item, "type", None)
            if kind in _RESPONSE_LIFECYCLE:
                response = getattr(item, "response", None)
                self.llm.record_response(
                    response_id=getattr(response, "id", None),
                    response_model=getattr(response, "model", None),
                )
                usage = getattr(response, "usage", None)
                if usage is not None:
                    self.llm.record_usage(usage)
                if kind == "response.failed":
                    error = getattr(response, "error", None)
                    self.fail(
                        str(getattr(error, "code", None) or kind),
                        str(getattr(error, "message", None) or kind),
                    )
            elif kind == "error":
                self.fail(
                    str(getattr(item, "code", None) or kind),
                    str(getattr(item, "message", None) or kind),
                )
        except Exception as exc:  # noqa: BLE001
            _warn.warning("event", "could not read an OpenAI response event: %s", exc)
        return True
