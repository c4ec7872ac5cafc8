"""Which finished spans are one LLM call, and what that call's one line says.

One call can reach the exporter as several spans: the Anthropic SDK's own span and an
instrumentor's, openai-v2's and ours, a LangChain span under OpenInference around the SDK
call's span. Spans are one call when

- they carry the same non-empty `gen_ai.response.id` in the same session (an empty id
  identifies nothing; the same id in two sessions is two calls, since some servers
  reuse ids); or
- one is the parent of the other, both LLM calls, of the same provider and model (an
  inference cannot contain another inference; OpenInference spans carry no response
  id). Provider or model unknown on either side counts as the same; a model is the
  same when one name starts with the other (`gpt-4o` and `gpt-4o-2024-08-06`); or
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
from itertools import islice
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


# How a span matched a call seen before it: (its index, that call's line, how, and
# for nesting the time that decides it: the parent's end or the child's start).
_Hit = tuple[int, RecordLine, int, int | None]
_SAME_KEY, _PARENT, _CHILD = 0, 1, 2  # same call key; the line is its parent; its child


class CallMerger:
    """Turns the LLM-call spans of each batch into one call each (see the module
    docstring). Remembers the call keys and span ids of about the last `capacity` calls,
    so that a later span of one of them is dropped. Not thread-safe: the exporter calls
    it under its lock.

    The common case costs little: a span with a response id and no parent costs one
    lookup and one store, like the response-id check it replaces; a span with a parent
    two more of each. Grouping and merging run only for spans that match.

    Nesting counts only when the child started before its parent ended: a context left
    attached by some instrumentation (openai-v2's streams do) otherwise makes the next
    call a "child" of the last one."""

    def __init__(self, capacity: int = _RECENT) -> None:
        self._keep = 3 * capacity
        # call key -> the line of the call that had it; span id -> (line, end time);
        # ~parent span id -> (line, start time)
        self._seen: dict[Hashable, Any] = {}
        self._children = 0  # how many ~parent entries `_seen` holds

    def merge(self, calls: Sequence[Call]) -> list[Call]:
        """The batch's calls, one per call, in the order their first span ended."""
        seen = self._seen
        get = seen.get
        children = self._children
        hits: list[_Hit] = []
        anonymous: list[int] = []  # spans without a response id
        for index, (attrs, line, span) in enumerate(calls):
            response_id = attrs.get(_RESPONSE_ID)
            if type(response_id) is str and response_id:
                key = (line.session_id, response_id)
                hit = get(key)
                if hit is not None:
                    hits.append((index, hit, _SAME_KEY, None))
                seen[key] = line
            else:
                anonymous.append(index)
            parent = span.parent
            if parent is None and not children:
                continue  # neither nested nor, as far as known, the parent of a call
            context = span.context
            if context is not None:
                span_id = context.span_id
                hit = get(~span_id)  # a call nested in this span
                if hit is not None:
                    hits.append((index, hit[0], _CHILD, hit[1]))
                seen[span_id] = (line, span.end_time)
            if parent is not None:
                parent_id = parent.span_id
                hit = get(parent_id)  # the call this span is nested in
                if hit is not None:
                    hits.append((index, hit[0], _PARENT, hit[1]))
                seen[~parent_id] = (line, span.start_time)
                children += 1
        self._children = children
        if len(seen) > 2 * self._keep:
            self._forget()
        if anonymous and len(calls) > 1:
            hits += _around(calls, anonymous, hits)
        if not hits:
            return list(calls)
        return _resolve(calls, hits)

    def _forget(self) -> None:
        """Keep the newest `_keep` entries (amortised O(1) per entry)."""
        seen = self._seen
        self._seen = dict(islice(seen.items(), len(seen) - self._keep, None))
        self._children = sum(1 for key in self._seen if type(key) is int and key < 0)


def _around(calls: Sequence[Call], anonymous: list[int], hits: list[_Hit]) -> list[_Hit]:
    """Links of spans without a response id to the one call that ran entirely within them.

    OpenInference's LangChain spans are never made the current span, so the SDK call
    they describe (ours, openai-v2's...) is not nested in them. Such a span is the same
    call as the one span with a response id of this batch in the same session, of the
    same provider, model and output count, whose time lies within its own; with no or
    several such spans it stays a call of its own."""
    linked = {hit[0] for hit in hits} | {id(hit[1]) for hit in hits}
    by_shape: dict[tuple[str, int], list[int]] = {}
    lonely = set(anonymous)
    for index, (_, line, _) in enumerate(calls):
        if index not in lonely:
            by_shape.setdefault((line.session_id, line.output_tokens), []).append(index)
    links: list[_Hit] = []
    for index in anonymous:
        _, line, span = calls[index]
        if index in linked or id(line) in linked:
            continue
        inside = [
            other
            for other in by_shape.get((line.session_id, line.output_tokens), ())
            if _within(calls[other][2], span) and _same_call(calls[other][1], line)
        ]
        if len(inside) == 1:
            links.append((index, calls[inside[0]][1], _SAME_KEY, None))
    return links


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
    for index, line, kind, time in hits:
        if kind != _SAME_KEY:
            if not _same_call(line, calls[index][1]):
                continue  # nested, but not the same provider and model
            span = calls[index][2]
            child_start, parent_end = (
                (span.start_time, time) if kind == _PARENT else (time, span.end_time)
            )
            if child_start is not None and parent_end is not None and child_start > parent_end:
                continue  # made a child by a context left attached after its parent ended
        other = index_of.get(id(line))
        if other is None:  # a line of an earlier batch
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


def _same_call(one: RecordLine, other: RecordLine) -> bool:
    """Whether two nested LLM-call spans describe the same call: the same provider and
    model as far as both know them."""
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
