"""The sessions of spans that say they are an LLM call only when they end.

Some producers start their LLM span with no attributes and name the operation later:
OpenLLMetry's `openai.response`, every openlit `chat {model}` span, LangChain's
`ChatOpenAI` / `ChatAnthropic` spans under OpenInference. `SessionSpanProcessor.on_start`
cannot know yet that they are calls, and once a span has ended its attributes can no
longer be set (public API). So the session is carried beside the span, in memory:

1. `on_start`: a span started inside a `session()` that is not (yet) an LLM call is
   noted here, span id -> the `ActiveSession` it started in (`started`).
2. `on_end`: its note is taken back; if the span turned out to be an LLM call it is
   kept for the exporter (`ended`); otherwise it is forgotten.
3. The exporter takes the note of each LLM-call span it writes (`take`) and applies the
   session's stamps (`ActiveSession.stamps_for`) to the line, as `on_start` would have.

Nothing is written onto spans for this: the traces sent elsewhere stay exactly what the
producers made (a private attribute stamped on every span of a session, HTTP and tool
spans included, would reach every trace backend and count against attribute limits).
The cost is one dictionary entry per span open in a session.

Bounded: at most `MAX_STARTED` open spans and `MAX_ENDED` ended ones are remembered;
past that the oldest note is dropped (its span, if it becomes a line, goes to the span's
own session or the fallback one) and a throttled warning says so. Thread-safe (one lock
per map). Fork-safe: a forked child gets fresh locks and keeps the notes, so a span the
parent started in a session and the child ends still finds its session.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from otel_token_usage._util import ThrottledLogger
from otel_token_usage.semconv import is_llm_call

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from otel_token_usage._session import ActiveSession

__all__ = ["MAX_ENDED", "MAX_STARTED", "LateSessions", "late_sessions"]

MAX_STARTED = 65_536
"""Spans open inside sessions whose session is remembered (agent, tool, HTTP spans...)."""
MAX_ENDED = 16_384
"""Ended LLM-call spans waiting for the exporter (one batch is 512 by default)."""

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


class LateSessions:
    """span id -> `ActiveSession`, for spans that may turn out to be LLM calls only when
    they end (see the module docstring)."""

    __slots__ = (
        "_ended",
        "_ended_lock",
        "_max_ended",
        "_max_started",
        "_started",
        "_started_lock",
        "open",
    )

    def __init__(self, max_started: int = MAX_STARTED, max_ended: int = MAX_ENDED) -> None:
        self._max_started = max_started
        self._max_ended = max_ended
        self._started: dict[int, ActiveSession] = {}
        self.open: Mapping[int, ActiveSession] = self._started
        """The spans remembered as open (read-only; the same object for the registry's
        life): empty, the common case, means `ended` has nothing to do."""
        self._ended: dict[int, ActiveSession] = {}
        self._started_lock = threading.Lock()
        self._ended_lock = threading.Lock()

    def started(self, span_id: int, active: ActiveSession) -> None:
        """A span that is not (yet) an LLM call started inside `active`."""
        with self._started_lock:
            started = self._started
            started[span_id] = active
            if len(started) > self._max_started:
                del started[next(iter(started))]
                _warn.warning(
                    "started",
                    "more than %d spans open inside sessions: the session of the oldest "
                    "is forgotten (if it becomes an LLM call, its line goes to the fallback "
                    "session)",
                    self._max_started,
                )

    def ended(self, span_id: int, attrs: Mapping[str, AttributeValue]) -> None:
        """The span `span_id` ended with `attrs`: keep its session for the exporter if it
        turned out to be an LLM call, else forget it."""
        if not self._started:  # the common case, no lock needed to see it
            return
        with self._started_lock:
            active = self._started.pop(span_id, None)
        if active is None or not is_llm_call(attrs):
            return
        with self._ended_lock:
            ended = self._ended
            ended[span_id] = active
            if len(ended) > self._max_ended:
                # Its exporter never came for it (another provider's, or dropped by a full
                # queue): nothing will read it.
                del ended[next(iter(ended))]

    def pending(self) -> bool:
        """Whether any ended span waits for the exporter (a lock-free hint)."""
        return bool(self._ended)

    def take(self, span_id: int) -> ActiveSession | None:
        """The session an ended LLM-call span started in, once; None if it has none."""
        with self._ended_lock:
            return self._ended.pop(span_id, None)

    def reset_locks(self) -> None:
        """Fresh locks (after a fork: a thread of the parent may have held one)."""
        self._started_lock = threading.Lock()
        self._ended_lock = threading.Lock()


late_sessions = LateSessions()
"""The one registry every `SessionSpanProcessor` notes into and every exporter reads."""

os.register_at_fork(after_in_child=late_sessions.reset_locks)
