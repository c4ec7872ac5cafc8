"""Session context: which session (and budget, and message count) an LLM call belongs to.

`session(...)` declares, for the code inside it, the session id, the prompt budget
snapshot and the conversation length; `SessionSpanProcessor` stamps them onto every LLM
span that starts there, whoever creates the span. The stamping has to happen in a span
processor's `on_start`: the exporter runs later, in another thread, where the
application's context is gone.

The session is kept on the OpenTelemetry `Context` (as the GenAI utilities keep their
context attributes), so it follows the code that runs, not the thread or object it runs
on, and travels wherever OpenTelemetry context propagation carries a span:

- `with` and `async with` both work; an asyncio task sees the session of the code that
  created it (tasks copy the context), and `await`s inside the block keep it.
- A new `threading.Thread` starts without it (its context is empty); carry it over
  with `contextvars.copy_context().run(...)`, `asyncio.to_thread`, or the OpenTelemetry
  threading instrumentation (`opentelemetry-instrumentation-threading`), which carries
  the OpenTelemetry context, and with it the session, into threads and thread pools.
- Sessions nest. The inner one wins while it lasts. An inner session with the *same*
  id refines the outer one: a budget, message count or `override` it leaves out is
  inherited. An inner session with *another* id is another conversation and inherits
  nothing.

A span that names a conversation of its own (`gen_ai.conversation.id`, else
`session.id`) different from the current session keeps it: an id the application gave
a producer (an Anthropic client's `conversation_id`, pydantic-ai's
`run(conversation_id=...)`) is meant. Producers that invent an id per run (pydantic-ai
gives every run without one a fresh UUID7) would then make every run its own session:
`session(..., override=True)` makes the session win over any id a span brings.

Our own instrumentors and `llm_call` take the session from the context themselves.
Spans of other producers get it from `SessionSpanProcessor`; entering a session while
no such processor exists logs one warning per process.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context

from . import semconv as a
from .record import BUDGET_FIELDS

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from .record import TokenBudgetUsage

__all__ = ["ActiveSession", "SessionScope", "current_session", "note_processor", "session"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """The session in effect: its id, and the budget snapshot and message count if given.

    `attributes` are everything the session gives an LLM span started under it:
    `gen_ai.conversation.id`, then `token_usage.message_count` when the message count is
    known, then one `token_usage.budget.<field>` per record budget field when a budget is
    known. Computed once, when the session is entered. `stamps_for` says which of them a
    given span gets.
    """

    session_id: str
    budget: TokenBudgetUsage | None = None
    message_count: int | None = None
    override: bool = False
    _stamps: dict[str, AttributeValue] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        stamps: dict[str, AttributeValue] = {a.GEN_AI_CONVERSATION_ID: self.session_id}
        if self.message_count is not None:
            stamps[a.TOKEN_USAGE_MESSAGE_COUNT] = self.message_count
        if self.budget is not None:
            for name in BUDGET_FIELDS:
                stamps[a.BUDGET_ATTRIBUTES[name]] = getattr(self.budget, name)
        object.__setattr__(self, "_stamps", stamps)

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """The span attributes this session stamps (read-only)."""
        return MappingProxyType(self._stamps)

    def stamps_for(self, attrs: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
        """What an LLM span that already carries `attrs` gets from this session.

        - A span naming no session, or this one, gets every stamp it does not carry yet
          (a message count the producer set stays).
        - A span naming another session gets nothing: it belongs to that conversation,
          and this session's budget and message count describe another one. Unless the
          session was entered with `override=True`: then its id replaces the span's,
          and the span gets the other stamps it does not carry yet.

        The result may be the session's own mapping: read it, never change it.
        """
        stamps = self._stamps
        own = a.session_of(attrs)
        if own is not None and own != self.session_id:
            if not self.override:
                return {}
            return {
                k: v for k, v in stamps.items() if k == a.GEN_AI_CONVERSATION_ID or k not in attrs
            }
        if stamps.keys().isdisjoint(attrs):
            return stamps
        return {k: v for k, v in stamps.items() if k not in attrs}


_SESSION_KEY = otel_context.create_key("otel_token_usage._session")


# The session of the code that runs, beside the OpenTelemetry context: a producer that
# starts a span in a context it rebuilt from a propagation carrier (logfire does so for
# the span that carries a stream's usage) drops our context value, not this variable.
_RUNNING: contextvars.ContextVar[ActiveSession | None] = contextvars.ContextVar(
    "otel_token_usage.session", default=None
)


def current_session(context: otel_context.Context | None = None) -> ActiveSession | None:
    """The innermost session in effect in `context`, or None outside any.

    Without `context`: the current OpenTelemetry context's session, else the session of
    the `with session(...)` block the code runs in (when a producer attached a context of
    its own, rebuilt without ours)."""
    if context is None:
        value = otel_context.get_value(_SESSION_KEY)
        if value is None:
            value = _RUNNING.get()
        return value if isinstance(value, ActiveSession) else None
    value = otel_context.get_value(_SESSION_KEY, context)
    return value if isinstance(value, ActiveSession) else None


class SessionScope:
    """What `session()` returns: a context manager for `with` and `async with`.

    Entering makes the session current and returns its `ActiveSession`; leaving restores
    exactly what was current before, whether the block ended normally or by an
    exception (which propagates unchanged). The same object may be entered again, also
    nested; every entry must be left in the context (thread, task) that entered it.
    """

    __slots__ = ("_budget", "_message_count", "_override", "_running", "_session_id", "_tokens")

    def __init__(
        self,
        session_id: str,
        budget: TokenBudgetUsage | None,
        message_count: int | None,
        override: bool = False,
    ) -> None:
        self._session_id = session_id
        self._budget = budget
        self._message_count = message_count
        self._override = override
        self._tokens: list[contextvars.Token[otel_context.Context]] = []
        self._running: list[contextvars.Token[ActiveSession | None]] = []

    def __enter__(self) -> ActiveSession:
        outer = current_session()
        budget, message_count, override = self._budget, self._message_count, self._override
        if outer is not None and outer.session_id == self._session_id:
            if budget is None:
                budget = outer.budget
            if message_count is None:
                message_count = outer.message_count
            override = override or outer.override
        active = ActiveSession(self._session_id, budget, message_count, override)
        self._tokens.append(otel_context.attach(otel_context.set_value(_SESSION_KEY, active)))
        self._running.append(_RUNNING.set(active))
        if not _processors and not _warned:
            _warn_no_processor()
        return active

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._tokens:
            return
        # Left from another context than the one that entered, OpenTelemetry logs the
        # failed detach and raises nothing into the user's block; the same for ours.
        otel_context.detach(self._tokens.pop())
        try:
            _RUNNING.reset(self._running.pop())
        except (ValueError, RuntimeError):
            _log.debug("session() left in another context than the one that entered it")

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
    override: bool = False,
) -> SessionScope:
    """Everything inside belongs to session `session_id` (see the module docstring).

    Use `with session("s-1"):` or `async with session("s-1"):`. With `budget` (the
    prompt-side `TokenBudgetUsage` snapshot of the next call) and `message_count` (the
    conversation's length), LLM spans started inside carry those too. Spans of our own
    instrumentors and `llm_call` get them in any case; spans of other producers get them
    from a `SessionSpanProcessor` on the tracer provider. With `override=True` the
    session also wins over a conversation id a span brings of its own (pydantic-ai's
    per-run ids, say).

    Raises TypeError or ValueError at once for arguments of the wrong type or an empty
    session id: a programming error is reported where it is made.
    """
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
    if not session_id:
        raise ValueError("session_id must not be empty")
    if budget is not None and not _is_budget(budget):
        raise TypeError(f"budget must be a TokenBudgetUsage, not {type(budget).__name__}")
    if message_count is not None:
        if type(message_count) is not int:
            raise TypeError(f"message_count must be an int, not {type(message_count).__name__}")
        if message_count < 0:
            raise ValueError(f"message_count must be >= 0, not {message_count}")
    if type(override) is not bool:
        raise TypeError(f"override must be a bool, not {type(override).__name__}")
    return SessionScope(session_id, budget, message_count, override)


# How many SessionSpanProcessors exist (created and not shut down), and whether the
# warning for a session entered without one was given. Plain module state: an int
# update under the GIL is enough for a count that only gates a warning.
_processors = 0
_warned = False


def note_processor(delta: int) -> None:
    """`SessionSpanProcessor` reports its creation (+1) and shutdown (-1) here."""
    global _processors  # noqa: PLW0603
    _processors = max(0, _processors + delta)


def _warn_no_processor() -> None:
    global _warned  # noqa: PLW0603
    _warned = True
    _log.warning(
        "session() entered but no SessionSpanProcessor exists: our instrumentors and "
        "llm_call still put their spans in the session, but spans of other producers "
        "(the Anthropic SDK's own tracing, OpenLLMetry, OpenInference, ...) will not "
        "carry it and their lines go to the fallback session. Add "
        "SessionSpanProcessor() to the tracer provider (configure() does). "
        "This is logged once."
    )


def _is_budget(value: object) -> bool:
    # A TokenBudgetUsage exists only once its module (and pydantic) is loaded: checking
    # the type lazily keeps `session()` free of pydantic for callers without a budget.
    from .record import TokenBudgetUsage  # noqa: PLC0415

    return isinstance(value, TokenBudgetUsage)
