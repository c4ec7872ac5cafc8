"""`LastUsageCall`: one instrumented call whose usage is the last usage its response
reported, ended exactly once. The Gemini and Bedrock instrumentors share it.

Gemini streams report running totals in every chunk, and Bedrock reports usage once, at
the end: in both, the last usage seen is the call's usage, to be replaced, never added.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager

from opentelemetry.trace import use_span

from otel_token_usage._util import ThrottledLogger
from otel_token_usage.instrumentation._span import LLMCallSpan

__all__ = ["LastUsageCall"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class LastUsageCall:
    """The span of one call and the last usage that arrived for it; `finish` records it
    and ends the span, once, whoever calls first (a JSON answer, a stream's exhaustion,
    close or error, the garbage collector). Subclasses read their SDK's items in
    `observe`."""

    __slots__ = ("_finished", "_usage", "span")

    def __init__(self, span: LLMCallSpan) -> None:
        self.span = span
        self._usage: object = None
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether `finish` has run."""
        return self._finished

    def current(self) -> AbstractContextManager[object]:
        """The call's span as the current span while its request is sent; it neither
        records nor re-marks the application's exceptions, nor ends the span."""
        return use_span(
            self.span.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        )

    def take_usage(self, usage: object) -> None:
        """Hold `usage` as the call's usage so far (it replaces what was held)."""
        self._usage = usage

    def observe(self, item: object) -> bool:
        """Take one streamed item into account; True: the caller sees it. Never raises."""
        return True

    def finish(self, error: BaseException | None = None) -> None:
        """Record the usage held and end the span, once; later calls do nothing.

        Only an `Exception` marks the span as failed: a cancellation, an interrupt or a
        stream closed early is the application stopping the call. Never raises.
        """
        if self._finished:
            return
        self._finished = True
        try:
            if self._usage is not None:
                self.span.record_usage(self._usage)
        except Exception as exc:  # noqa: BLE001
            _warn.warning("finish", "could not record a call's usage: %s", exc)
        self.span.end(error if isinstance(error, Exception) else None)
