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
  same when one name starts with the other (`gpt-4o` and `gpt-4o-2024-08-06`).

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


class CallMerger:
    """Turns the LLM-call spans of each batch into one call each (see the module
    docstring). Remembers the call keys and span ids of about the last `capacity` calls,
    so that a later span of one of them is dropped. Not thread-safe: the exporter calls
    it under its lock.

    The common case costs little: a span with a response id and no parent costs one
    lookup and one store, like the response-id check it replaces; a span with a parent
    two more of each. Grouping and merging run only for spans that match."""

    def __init__(self, capacity: int = _RECENT) -> None:
        self._keep = 3 * capacity
        # call key, span id, or ~parent span id -> the line of the call that had it
        self._seen: dict[Hashable, RecordLine] = {}
        self._children = 0  # how many ~parent entries `_seen` holds

    def merge(self, calls: Sequence[Call]) -> list[Call]:
        """The batch's calls, one per call, in the order their first span ended."""
        seen = self._seen
        get = seen.get
        children = self._children
        hits: list[tuple[int, RecordLine, bool]] = []  # (index, line seen, same key)
        for index, (attrs, line, span) in enumerate(calls):
            response_id = attrs.get(_RESPONSE_ID)
            if type(response_id) is str and response_id:
                key = (line.session_id, response_id)
                hit = get(key)
                if hit is not None:
                    hits.append((index, hit, True))
                seen[key] = line
            parent = span.parent
            if parent is None and not children:
                continue  # neither nested nor, as far as known, the parent of a call
            context = span.context
            if context is not None:
                span_id = context.span_id
                hit = get(~span_id)  # a call nested in this span
                if hit is not None:
                    hits.append((index, hit, False))
                seen[span_id] = line
            if parent is not None:
                parent_id = parent.span_id
                hit = get(parent_id)  # the call this span is nested in
                if hit is not None:
                    hits.append((index, hit, False))
                seen[~parent_id] = line
                children += 1
        self._children = children
        if len(seen) > 2 * self._keep:
            self._forget()
        if not hits:
            return list(calls)
        return _resolve(calls, hits)

    def _forget(self) -> None:
        """Keep the newest `_keep` entries (amortised O(1) per entry)."""
        seen = self._seen
        self._seen = dict(islice(seen.items(), len(seen) - self._keep, None))
        self._children = sum(1 for key in self._seen if type(key) is int and key < 0)


def _resolve(calls: Sequence[Call], hits: list[tuple[int, RecordLine, bool]]) -> list[Call]:
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
    for index, line, same_key in hits:
        if not same_key and not _same_call(line, calls[index][1]):
            continue  # nested, but not the same provider and model
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
