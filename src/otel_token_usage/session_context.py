"""Session context: which session (and budget, and message count) an LLM call belongs to.

`session(...)` declares, for the code inside it, the session id, the prompt budget
snapshot and the conversation length; `SessionSpanProcessor` stamps them onto every LLM
span that starts there, whoever creates the span. The stamping has to happen in a span
processor's `on_start`: the exporter runs later, in another thread, where the
application's context is gone.

The context lives in a `contextvars.ContextVar`, so it follows the code that runs, not
the thread or object it runs on:

- `with` and `async with` both work; an asyncio task sees the session of the code that
  created it (tasks copy the context), and `await`s inside the block keep it.
- A new `threading.Thread` starts without it (its context is empty); carry it over
  with `contextvars.copy_context().run(...)` or `asyncio.to_thread`, which copies it.
- Sessions nest. The inner one wins while it lasts. An inner session with the *same*
  id refines the outer one: a budget or message count it leaves out is inherited. An
  inner session with *another* id is another conversation and inherits nothing.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from . import attributes as a
from ._throttle import ThrottledLogger
from .extract import is_inference
from .record import BUDGET_FIELDS, TokenBudgetUsage

__all__ = ["ActiveSession", "SessionScope", "SessionSpanProcessor", "current_session", "session"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)

_SESSION_NAMES = a.READ_SESSION
"""Attributes through which a span already names its session (read in this order)."""


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """The session in effect: its id, and the budget snapshot and message count if given.

    `attributes` are exactly what `SessionSpanProcessor` stamps onto an LLM span started
    under it: `gen_ai.conversation.id`, then `token_usage.message_count` when the message
    count is known, then one `token_usage.budget.<field>` per record budget field when a
    budget is known. Computed once, when the session is entered.
    """

    session_id: str
    budget: TokenBudgetUsage | None = None
    message_count: int | None = None
    _stamps: dict[str, AttributeValue] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _longest_text: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        stamps: dict[str, AttributeValue] = {a.GEN_AI_CONVERSATION_ID: self.session_id}
        if self.message_count is not None:
            stamps[a.TOKEN_USAGE_MESSAGE_COUNT] = self.message_count
        if self.budget is not None:
            for name in BUDGET_FIELDS:
                stamps[a.BUDGET_ATTRIBUTES[name]] = getattr(self.budget, name)
        object.__setattr__(self, "_stamps", stamps)
        object.__setattr__(self, "_longest_text", len(self.session_id))

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """The span attributes this session stamps (read-only)."""
        return MappingProxyType(self._stamps)


_current: contextvars.ContextVar[ActiveSession | None] = contextvars.ContextVar(
    "otel_token_usage_session", default=None
)


def current_session() -> ActiveSession | None:
    """The innermost session in effect in the calling context, or None outside any."""
    return _current.get()


class SessionScope:
    """What `session()` returns: a context manager for `with` and `async with`.

    Entering makes the session current and returns its `ActiveSession`; leaving restores
    exactly what was current before, whether the block ended normally or by an
    exception (which propagates unchanged). The same object may be entered again, also
    nested; every entry must be left in the context (thread, task) that entered it.
    """

    __slots__ = ("_budget", "_message_count", "_session_id", "_tokens")

    def __init__(
        self, session_id: str, budget: TokenBudgetUsage | None, message_count: int | None
    ) -> None:
        self._session_id = session_id
        self._budget = budget
        self._message_count = message_count
        self._tokens: list[contextvars.Token[ActiveSession | None]] = []

    def __enter__(self) -> ActiveSession:
        outer = _current.get()
        budget, message_count = self._budget, self._message_count
        if outer is not None and outer.session_id == self._session_id:
            if budget is None:
                budget = outer.budget
            if message_count is None:
                message_count = outer.message_count
        active = ActiveSession(self._session_id, budget, message_count)
        self._tokens.append(_current.set(active))
        return active

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._tokens:
            return
        token = self._tokens.pop()
        try:
            _current.reset(token)
        except ValueError:
            # Left from another context than the one that entered: restore what that
            # entry replaced rather than raise out of the user's block.
            _warn.warning("reset", "session %r left from another context", self._session_id)
            old = token.old_value
            _current.set(None if old is contextvars.Token.MISSING else old)

    async def __aenter__(self) -> ActiveSession:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def session(
    session_id: str,
    *,
    budget: TokenBudgetUsage | None = None,
    message_count: int | None = None,
) -> SessionScope:
    """Everything inside belongs to session `session_id` (see the module docstring).

    Use `with session("s-1"):` or `async with session("s-1"):`. With `budget` (the
    prompt-side `TokenBudgetUsage` snapshot of the next call) and `message_count` (the
    conversation's length), LLM spans started inside carry those too, provided a
    `SessionSpanProcessor` is on the tracer provider.

    Raises TypeError or ValueError at once for arguments of the wrong type or an empty
    session id: a programming error is reported where it is made.
    """
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
    if not session_id:
        raise ValueError("session_id must not be empty")
    if budget is not None and not isinstance(budget, TokenBudgetUsage):
        raise TypeError(f"budget must be a TokenBudgetUsage, not {type(budget).__name__}")
    if message_count is not None:
        if type(message_count) is not int:
            raise TypeError(f"message_count must be an int, not {type(message_count).__name__}")
        if message_count < 0:
            raise ValueError(f"message_count must be >= 0, not {message_count}")
    return SessionScope(session_id, budget, message_count)


def _attribute_dict(span: Span) -> Mapping[str, Any]:
    """The span's attributes as fast as they can be read.

    An SDK span keeps them in a `BoundedAttributes` whose plain dict `_dict` reads in
    nanoseconds, where the public mapping raises and catches a KeyError per missing
    name. It is only read, never written; any other shape goes through the public view.
    """
    bounded = getattr(span, "_attributes", None)
    raw = getattr(bounded, "_dict", None)
    if type(raw) is dict:
        return raw
    return span.attributes or {}


def _add_new_attributes(
    span: Span, stamps: Mapping[str, AttributeValue], longest_text: int
) -> None:
    """Add `stamps` (valid values, names the span does not have yet) to a started span.

    The SDK's `set_attributes` re-validates and copies every value (measured: about
    4 µs for the twelve stamps of a full budget, 0.4 µs as a dict update). When the
    span's store is the SDK's `BoundedAttributes` and nothing would be dropped or
    truncated (its count and length limits hold), the stamps go straight into its dict
    under its lock, which is what `set_attributes` ends up doing for such values. In
    every other case, or if the SDK's internals ever differ, the public
    `set_attributes` does the work.
    """
    bounded = getattr(span, "_attributes", None)
    if type(bounded) is BoundedAttributes:
        try:
            with bounded._lock:
                store = bounded._dict
                maxlen, max_value_len = bounded.maxlen, bounded.max_value_len
                if (
                    bounded._immutable is False
                    and type(store) is dict
                    and (maxlen is None or len(store) + len(stamps) <= maxlen)
                    and (max_value_len is None or longest_text <= max_value_len)
                ):
                    store.update(stamps)
                    return
        except AttributeError:
            pass
    span.set_attributes(stamps)


def _own_session(attrs: Mapping[str, Any]) -> str | None:
    """The session the span names itself, read as the exporter reads it."""
    for name in _SESSION_NAMES:
        value = attrs.get(name)
        if isinstance(value, str):
            if value:
                return value
        elif type(value) is int:
            return str(value)
    return None


class SessionSpanProcessor(SpanProcessor):
    """Stamps the current session onto every LLM span when it starts, whoever starts it.

    Add it to the tracer provider next to the exporter's processor. In `on_start`, when
    a session is current (`session()`), a span that is an LLM call *by the attributes it
    starts with* gets the session's `ActiveSession.attributes`.

    An LLM call at start time is a span that
    - has `gen_ai.operation.name` in `chat`, `text_completion`, `generate_content`
      (our spans, the Anthropic SDK's native `anthropic.messages.create`, OpenLLMetry's
      and the official GenAI instrumentations' chat spans all start with it); or, when
      that is absent,
    - has OpenInference's `openinference.span.kind` = `LLM`; or, when both are absent,
    - has older OpenLLMetry's `llm.request.type` = `chat` or `completion`;
    - and is not an OpenLLMetry aggregate (`traceloop.span.kind` workflow, task, agent,
      tool).
    These are the exporter's rules (`extract.is_llm_call`) without its "carries usage"
    condition, which cannot be known before the response. Every other span (agent,
    tool, embeddings, HTTP, a span that names its operation only after starting) is left
    untouched: no session, budget or message count.

    A producer's own values win; nothing already on the span is overwritten:
    - A span that starts with a session of its own (`gen_ai.conversation.id`, else
      `session.id`) that differs from the current one belongs to that other
      conversation (e.g. an Anthropic client built with a `conversation_id`); it gets
      nothing, since the current budget and message count describe another
      conversation.
    - A span whose session equals the current one, or that names none, gets every stamp
      it does not already carry (so `llm_call(message_count=...)` keeps its own count).

    `on_start` never raises (a failure is logged, throttled) and costs one context-var
    read for spans outside any session.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Stamp `span` if it is an LLM call started inside a session. Never raises."""
        active = _current.get()
        if active is None:
            return
        try:
            attrs = _attribute_dict(span)
            if not is_inference(attrs):
                return
            own = _own_session(attrs)
            if own is not None and own != active.session_id:
                return
            stamps = active._stamps
            if not stamps.keys().isdisjoint(attrs):
                stamps = {k: v for k, v in stamps.items() if k not in attrs}
            _add_new_attributes(span, stamps, active._longest_text)
        except Exception as exc:  # noqa: BLE001 - a processor must not break span creation
            _warn.warning("on_start", "could not stamp the session onto a span: %s", exc)

    def on_end(self, span: Any) -> None:
        """Nothing to do when a span ends."""

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: always True."""
        return True
