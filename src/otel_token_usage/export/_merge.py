"""Which finished spans are one LLM call, and what that call's one line says.

One call can reach the exporter as several spans: the Anthropic SDK's own span and an
instrumentor's, openai-v2's and ours, a LangChain span under OpenInference around the SDK
call's span. Spans are one call when

- they carry the same non-empty `gen_ai.response.id` in the same session (an empty id
  identifies nothing; the same id in two sessions is two calls, since some servers
  reuse ids); or
- one is the parent of the other, both LLM calls, of the same provider and model, not
  with two different response ids (an inference cannot contain another inference;
  OpenInference spans carry no response id). Provider or model unknown on either side
  counts as the same; a model is the same when one name starts with the other (`gpt-4o`
  and `gpt-4o-2024-08-06`). The child must end first; or
- one carries no response id and the other, the only such span of the batch, ran
  entirely within it, in the same session, with the same provider, model and output
  count (OpenInference's LangChain spans are never made current, so the SDK call they
  describe is not nested in them).

The call's line takes each field from the span that knows it best:

- a count (input, cache read, cache write and its 5m/1h split, output, thinking)
  reported by some span beats a count no span reports; among those that report it,
  the span of the most exact producer wins (`semconv.PRODUCER_RANKS`: ours, then the
  Anthropic SDK's own tracing, pydantic-ai/logfire, openai-v2, OpenInference,
  OpenLLMetry, openlit, others; on a tie the span that ended first). Input is compared
  as the prompt size (fresh + cache read + cache write, as each span's own arithmetic
  gives it), so an inclusive count and an exclusive one with its cache counts agree;
  the line's fresh input is then that prompt minus the chosen cache counts (if the
  chosen counts do not fit in the chosen prompt, the three come from one span);
- the model: a response model beats a request model, then by rank; provider, session,
  message count and budget snapshot: the best-ranked span that names them;
- `ts`, `trace_id`, `span_id`, `duration_ms`: the best-ranked span's, so the line
  points at one real span of the call.

Within one export batch every span of a call is merged. A call whose spans arrive in
different batches (`SimpleSpanProcessor`, or a batch boundary between them) still gives
one line, the first batch's: later spans of it are recognised (response id, or nesting
among the last few thousand calls' spans) and dropped, since a written line is never
rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import msgspec
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage.record import RecordLine
from otel_token_usage.semconv import UNKNOWN

from ._extract import span_fields

__all__ = ["Call", "CallMerger", "call_key"]

_RECENT = 4096
_NESTING_BATCHES = 1024
"""Batches after the last one with a span without response id during which nesting is
still looked for (a batch holds at least one span)."""
_RESPONSE_ID = a.GEN_AI_RESPONSE_ID


Call = tuple[Mapping[str, AttributeValue], RecordLine, ReadableSpan]
"""One LLM-call span as the exporter read it: (attributes, line, span). A plain tuple:
one is built per span on the export path."""


def call_key(session_id: str, response_id: object) -> tuple[str, str] | None:
    """What identifies a call across spans: its session and a non-empty response id;
    None (identifies nothing) without one."""
    if type(response_id) is str and response_id:
        return (session_id, response_id)
    return None


# How a span matched a call seen before it: (its index; the index of the other span in
# this batch, None for a call of an earlier batch; how; for a nested call, its (line,
# response id)).
_Hit = tuple[int, int | None, int, Any]
_SAME_KEY, _CHILD = 0, 1  # same call key; a call nested in the span


class CallMerger:
    """Turns the LLM-call spans of each batch into one call each (see the module
    docstring). Remembers the response ids and span ids of about the last `capacity`
    calls, so that a later span of one of them is dropped. Not thread-safe: the exporter
    calls it under its lock.

    Per batch: `note` each LLM-call span as it is read, then `end()`. The common case
    costs little: a span with a response id costs one lookup and one store, as the plain
    response-id check it replaces did. Grouping and merging run only for spans that
    match.

    Nesting matters only where one of two spans has no response id (two ids say
    whether they are one call). So it is looked for in a batch with such a span and in
    the `_NESTING_BATCHES` batches after one, where it costs two more lookups per span;
    where every producer writes response ids it costs nothing. It is found from the
    child, which ends first (its line waits under its parent's span id for the parent);
    a nested span that ends after its parent is not matched, nor one whose partner was
    written before nesting was looked for."""

    def __init__(self, capacity: int = _RECENT) -> None:
        self._capacity = capacity
        # Two generations, the older dropped whole when the newer fills (O(1) steps,
        # small enough to stay in cache): response id (or, for an id seen in two
        # sessions, the call key) -> the session of the call that had it (not its line:
        # lines are let go once written); ~parent span id -> (line, response id) of a
        # child waiting for its parent.
        self._recent: dict[Hashable, Any] = {}
        self._older: dict[Hashable, Any] = {}
        self._batch: dict[Hashable, int] = {}  # key -> index of its last span in this batch
        self._nesting = 0  # batches left to look for nesting in
        self._calls: list[Call] = []  # this batch's
        self._hits: list[_Hit] = []
        self._anonymous: list[int] = []  # indexes of this batch's spans without a response id

    def note(
        self, attrs: Mapping[str, AttributeValue], line: RecordLine, span: ReadableSpan
    ) -> None:
        """One LLM-call span of the batch, in the order the batch has them."""
        calls = self._calls
        calls.append((attrs, line, span))
        response_id = attrs.get(_RESPONSE_ID)
        if type(response_id) is str and response_id:
            recent = self._recent
            session = recent.get(response_id)
            if session is None:
                session = self._older.get(response_id)
            if session is None:
                recent[response_id] = line.session_id
                self._batch[response_id] = len(calls) - 1
                if len(recent) >= self._capacity:
                    self._rotate()
            else:
                self._seen_before(len(calls) - 1, response_id, session, line)
        else:
            self._anonymous.append(len(calls) - 1)

    def _get(self, key: Hashable) -> Any:
        found = self._recent.get(key)
        return self._older.get(key) if found is None else found

    def _put(self, key: Hashable, value: Any) -> None:
        self._recent[key] = value
        if len(self._recent) >= self._capacity:
            self._rotate()

    def _rotate(self) -> None:
        self._older, self._recent = self._recent, {}

    def _seen_before(self, index: int, response_id: str, session: str, line: RecordLine) -> None:
        """A response id seen before: the same call if in the same session."""
        key: Hashable = response_id
        if session != line.session_id:  # another session: keyed by both from now on
            key = (line.session_id, response_id)
            if self._get(key) is None:
                self._put(key, line.session_id)
                self._batch[key] = index
                return
        self._hits.append((index, self._batch.get(key), _SAME_KEY, None))
        self._batch[key] = index

    def end(self) -> list[Call] | None:
        """The batch's calls, one per call, in the order their first span ended; None
        when every span noted is a call of its own (the common case). Starts the next
        batch."""
        calls, hits, anonymous = self._calls, self._hits, self._anonymous
        self._calls, self._hits, self._anonymous, self._batch = [], [], [], {}
        # Nesting tells calls apart only where one span has no response id: looked for
        # while such spans come (and for a while after), not at all where none do.
        if anonymous:
            self._nesting = _NESTING_BATCHES
        if self._nesting:
            self._nesting -= not anonymous
            self._find_nested(calls, hits)
        if anonymous and len(calls) > 1:
            hits += _around(calls, anonymous, hits)
        return _resolve(calls, hits) if hits else None

    def _find_nested(self, calls: list[Call], hits: list[_Hit]) -> None:
        """Match each span with the calls nested in it. Found from the child, which ends
        first: its line waits under its parent's span id (as ~id) for the parent."""
        for index, (attrs, line, span) in enumerate(calls):
            context = span.context
            if context is not None:
                nested = self._get(~context.span_id)
                if nested is not None:
                    hits.append((index, None, _CHILD, nested))
            parent = span.parent
            if parent is not None:
                self._put(~parent.span_id, (line, attrs.get(_RESPONSE_ID)))

    def merge(self, calls: Sequence[Call]) -> list[Call]:
        """`note` each of `calls`, then `end()`: the batch's calls, one per call."""
        for attrs, line, span in calls:
            self.note(attrs, line, span)
        merged = self.end()
        return list(calls) if merged is None else merged


def _around(calls: Sequence[Call], anonymous: list[int], hits: list[_Hit]) -> list[_Hit]:
    """Links of spans without a response id to the one call that ran entirely within them.

    OpenInference's LangChain spans are never made the current span, so the SDK call
    they describe (ours, openai-v2's...) is not nested in them. Such a span is the same
    call as the one span with a response id of this batch in the same session, of the
    same provider, model and output count, whose time lies within its own; with no or
    several such spans it stays a call of its own."""
    index_of = {id(call[1]): index for index, call in enumerate(calls)}
    linked = {hit[0] for hit in hits} | {_other(hit, index_of) for hit in hits}
    by_shape: dict[tuple[str, int], list[int]] = {}
    lonely = set(anonymous)
    for index, (_, line, _) in enumerate(calls):
        if index not in lonely:
            by_shape.setdefault((line.session_id, line.output_tokens), []).append(index)
    links: list[_Hit] = []
    for index in anonymous:
        _, line, span = calls[index]
        if index in linked:
            continue
        inside = [
            other
            for other in by_shape.get((line.session_id, line.output_tokens), ())
            if _within(calls[other][2], span) and _same_call(calls[other][1], line)
        ]
        if len(inside) == 1:
            links.append((index, inside[0], _SAME_KEY, None))
    return links


def _other(hit: _Hit, index_of: Mapping[int, int]) -> int | None:
    """The index in this batch of the span `hit` matched, None for an earlier batch's."""
    _, other, kind, nested = hit
    return index_of.get(id(nested[0])) if kind == _CHILD else other


def _within(inner: ReadableSpan, outer: ReadableSpan) -> bool:
    start, end = inner.start_time, inner.end_time
    outer_start, outer_end = outer.start_time, outer.end_time
    if None in (start, end, outer_start, outer_end):
        return False
    return outer_start <= start and end <= outer_end  # type: ignore[operator]


def _resolve(calls: Sequence[Call], hits: list[_Hit]) -> list[Call]:
    """Group the calls that matched, drop the groups written in an earlier batch, merge
    the rest."""
    index_of = {id(call[1]): index for index, call in enumerate(calls)}
    root = list(range(len(calls)))

    def find(index: int) -> int:
        while root[index] != index:
            root[index] = root[root[index]]
            index = root[index]
        return index

    earlier: list[int] = []
    for hit in hits:
        index, _, kind, nested = hit
        if kind == _CHILD and not _same_call(
            nested[0], calls[index][1], nested[1], calls[index][0]
        ):
            continue
        other = _other(hit, index_of)
        if other is None:  # a call of an earlier batch
            earlier.append(index)
            continue
        low, high = sorted((find(index), find(other)))
        root[high] = low
    written = {find(index) for index in earlier}
    grouped: dict[int, list[Call]] = {}
    for index, call in enumerate(calls):
        group = find(index)
        if group not in written:
            grouped.setdefault(group, []).append(call)
    return [members[0] if len(members) == 1 else _merged(members) for members in grouped.values()]


def _same_call(
    one: RecordLine,
    other: RecordLine,
    one_id: object = None,
    other_attrs: Mapping[str, AttributeValue] | None = None,
) -> bool:
    """Whether two nested LLM-call spans describe the same call: not two different
    response ids (a context left attached by some instrumentation, as openai-v2's
    streams leave one, can make a call the "child" of another), and the same provider
    and model as far as both know them."""
    other_id = other_attrs.get(_RESPONSE_ID) if other_attrs is not None else None
    if type(one_id) is str and type(other_id) is str and one_id and other_id and one_id != other_id:
        return False
    provider, other_provider = one.provider.lower(), other.provider.lower()
    if UNKNOWN not in (provider, other_provider) and provider != other_provider:
        return False
    model, other_model = one.model, other.model
    if UNKNOWN in (model, other_model):
        return True
    return model.startswith(other_model) or other_model.startswith(model)


class _View:
    """One span of a call, as merging compares it."""

    __slots__ = ("call", "fields", "line")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.line = call[1]
        self.fields = span_fields(call[0])

    @property
    def writes_cache(self) -> bool:
        f = self.fields
        return not (
            f.cache_write is None
            and f.cache_write_legacy is None
            and f.write_5m is None
            and f.write_5m_native is None
            and f.write_1h is None
            and f.write_1h_native is None
        )

    @property
    def has_split(self) -> bool:
        line = self.line
        return (
            line.cache_creation_5m_input_tokens is not None
            or line.cache_creation_1h_input_tokens is not None
        )


def _first(views: list[_View], test: Callable[[_View], bool]) -> _View | None:
    """The best-ranked span that passes `test`."""
    return next((view for view in views if test(view)), None)


def _merged(members: list[Call]) -> Call:
    """One call from the spans of one call: each field from the span that knows it best
    (see the module docstring)."""
    views = [_View(call) for call in sorted(members, key=_rank)]  # stable: ties keep order
    top = views[0]
    prompt_view = _first(views, lambda v: v.fields.input is not None) or top
    read_view = _first(views, lambda v: v.fields.cache_read is not None) or top
    write_view = _first(views, lambda v: v.writes_cache) or top
    prompt = _prompt(prompt_view.line)
    read = read_view.line.cache_read_input_tokens
    write = write_view.line.cache_creation_input_tokens
    if prompt < read + write:  # the chosen counts contradict each other: one span's three
        read_view = write_view = prompt_view
        read = prompt_view.line.cache_read_input_tokens
        write = prompt_view.line.cache_creation_input_tokens
    # The 5m/1h split (extension fields, None on seed-format lines): from the best span
    # whose split belongs to the chosen cache write.
    split = (
        _first(views, lambda v: v.has_split and v.line.cache_creation_input_tokens == write)
        or write_view
    )
    updates: dict[str, Any] = {
        "input_tokens": prompt - read - write,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
        "cache_creation_5m_input_tokens": split.line.cache_creation_5m_input_tokens,
        "cache_creation_1h_input_tokens": split.line.cache_creation_1h_input_tokens,
    }
    tests: tuple[tuple[str, Callable[[_View], bool]], ...] = (
        ("output_tokens", lambda v: v.fields.output is not None),
        ("thinking_tokens", lambda v: v.fields.reasoning is not None),
        ("message_count", lambda v: v.fields.message_count is not None),
        ("session_id", lambda v: v.fields.session is not None),
        ("provider", lambda v: v.line.provider != UNKNOWN),
        ("model", lambda v: v.fields.model is not None),
        ("model", lambda v: v.fields.request_model is not None),
    )
    for field, test in tests:
        if field in updates:
            continue
        view = _first(views, test)
        if view is not None:
            updates[field] = getattr(view.line, field)
    budget = _first(views, lambda v: not _BUDGET_NAMES.isdisjoint(v.call[0]))
    if budget is not None:
        updates.update((field, getattr(budget.line, field)) for field in _BUDGET_FIELDS)
    attrs, line, span = top.call
    return (attrs, msgspec.structs.replace(line, **updates), span)


def _prompt(line: RecordLine) -> int:
    return line.input_tokens + line.cache_read_input_tokens + line.cache_creation_input_tokens


def _rank(call: Call) -> int:
    scope = call[2].instrumentation_scope
    return a.producer_rank(scope.name if scope is not None else "")


_BUDGET_NAMES = frozenset(a.BUDGET_ATTRIBUTES.values())
_BUDGET_FIELDS = tuple(a.BUDGET_ATTRIBUTES)
