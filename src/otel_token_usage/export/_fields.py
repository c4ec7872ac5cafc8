"""span attributes -> what the span says, field by field, before any arithmetic.

`span_fields` reads every name any producer writes for a field (first match wins, in
the order `semconv` lists them), fills in what no attribute names directly (totals from
per-modality parts, logfire's raw usage JSON, the missing half of a 5m/1h split), and
never raises on values: a value that is not a valid token count is replaced by the next
name's, else 0, with a throttled warning naming the attribute (see `_extract` for the
edges).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.record import BUDGET_FIELDS, COUNT_LIMITS, U32_MAX, U64_MAX

__all__ = ["BUDGET_NAMES", "NO_BUDGET", "SpanFields", "span_fields"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)

# The fast reader's counts stop at i64 (a msgspec limit); larger values take the
# name-by-name reader, which knows u64.
_I64_MAX = 2**63 - 1
_Count = Annotated[int, msgspec.Meta(ge=0, le=_I64_MAX)]
_U32 = Annotated[int, msgspec.Meta(ge=0, le=U32_MAX)]
_B = a.BUDGET_ATTRIBUTES
_MAX_COUNT_DIGITS = len(str(U64_MAX))
# Python refuses to print ints over 4,300 digits (sys.int_info); far below that here.
_MAX_TEXT_INT_BITS = 1024
_SHOWN_CHARS = 80


def _at(name: str) -> Any:
    return msgspec.field(default=None, name=name)


class _Raw(msgspec.Struct, gc=False):
    """What a span says, before any arithmetic; None where it says nothing usable.

    Its encoded names are the current (first-choice) attribute names, so
    `msgspec.convert(attrs, _Raw)` reads a conforming span in one C call."""

    input: _Count | None = _at(a.READ_INPUT[0])
    output: _Count | None = _at(a.READ_OUTPUT[0])
    cache_read: _Count | None = _at(a.READ_CACHE_READ[0])
    cache_write: _Count | None = _at(a.READ_CACHE_WRITE[0])
    reasoning: _Count | None = _at(a.READ_REASONING[0])
    write_5m: _Count | None = _at(a.READ_CACHE_WRITE_5M[0])
    write_1h: _Count | None = _at(a.READ_CACHE_WRITE_1H[0])
    # Second choices written often enough to deserve the fast reader:
    cache_write_legacy: _Count | None = _at(a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    write_5m_native: _Count | None = _at(a.ANTHROPIC_CACHE_WRITE_5M)
    write_1h_native: _Count | None = _at(a.ANTHROPIC_CACHE_WRITE_1H)
    message_count: _Count | None = _at(a.TOKEN_USAGE_MESSAGE_COUNT)
    session: str | None = _at(a.READ_SESSION[0])
    model: str | None = _at(a.READ_MODEL[0])
    request_model: str | None = _at(a.READ_MODEL[1])
    provider: str | None = _at(a.READ_PROVIDER[0])
    system_tokens: _U32 | None = _at(_B["system_tokens"])
    summary_tokens: _U32 | None = _at(_B["summary_tokens"])
    window_tokens: _U32 | None = _at(_B["window_tokens"])
    total_tokens: _U32 | None = _at(_B["total_tokens"])
    max_context_tokens: _U32 | None = _at(_B["max_context_tokens"])
    budget_limit: _U32 | None = _at(_B["budget_limit"])
    prompt_cached_tool_outputs: _Count | None = _at(_B["prompt_cached_tool_outputs"])
    prompt_cached_tool_tokens_saved: _U32 | None = _at(_B["prompt_cached_tool_tokens_saved"])
    truncation_occurred: bool | None = _at(_B["truncation_occurred"])
    segments_removed: _Count | None = _at(_B["segments_removed"])


# _Raw field -> every attribute name for it, first match wins (the slow reader's map).
_COUNT_READS: dict[str, tuple[str, ...]] = {
    "input": a.READ_INPUT,
    "output": a.READ_OUTPUT,
    "cache_read": a.READ_CACHE_READ,
    "cache_write": a.READ_CACHE_WRITE,
    "reasoning": a.READ_REASONING,
    "write_5m": a.READ_CACHE_WRITE_5M,
    "write_1h": a.READ_CACHE_WRITE_1H,
    "message_count": (a.TOKEN_USAGE_MESSAGE_COUNT,),
}
_TEXT_READS: dict[str, tuple[str, ...]] = {
    "session": a.READ_SESSION,
    "model": a.READ_MODEL,
    "provider": a.READ_PROVIDER,
}
BUDGET_NAMES = frozenset(_B.values())
NO_BUDGET: tuple[Any, ...] = tuple(
    False if field == "truncation_occurred" else 0 for field in BUDGET_FIELDS
)
# Names only the slow reader knows: their presence sends a span to it.
_OTHER_NAMES = frozenset(
    name for names in (*_COUNT_READS.values(), *_TEXT_READS.values()) for name in names[1:]
) - {
    a.READ_MODEL[1],
    a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    a.ANTHROPIC_CACHE_WRITE_5M,
    a.ANTHROPIC_CACHE_WRITE_1H,
} | {a.LOGFIRE_USAGE_RAW, *a.GEN_AI_USAGE_INPUT_PARTS, *a.GEN_AI_USAGE_OUTPUT_PARTS}

SpanFields = _Raw
"""What a span says per field, None where it says nothing (see `span_fields`)."""


def span_fields(attrs: Mapping[str, AttributeValue]) -> SpanFields:
    """Each field as the span gives it, None where it gives none (what merging the spans
    of one call needs to tell a reported count from a missing one): in one C call when
    the span uses only current names and clean values, else name by name (same result,
    plus warnings for bad values)."""
    if _OTHER_NAMES.isdisjoint(attrs):
        try:
            return msgspec.convert(attrs, _Raw)
        except msgspec.ValidationError:
            pass
    return _read_by_name(attrs)


def _read_by_name(attrs: Mapping[str, AttributeValue]) -> _Raw:
    fields: dict[str, Any] = {field: _count(attrs, names) for field, names in _COUNT_READS.items()}
    fields.update((field, _text(attrs, names)) for field, names in _TEXT_READS.items())
    for field, default in zip(BUDGET_FIELDS, NO_BUDGET, strict=True):
        name = _B[field]
        if isinstance(default, bool):
            fields[field] = _flag(attrs, name) if name in attrs else None
        else:
            fields[field] = _count(attrs, (name,), COUNT_LIMITS[field])
    _fill_in(attrs, fields)
    return _Raw(**fields)


def _fill_in(attrs: Mapping[str, AttributeValue], fields: dict[str, Any]) -> None:
    """Counts no attribute names directly: totals from their per-modality parts, counts
    from logfire's raw usage JSON, and the missing half of a 5m/1h split."""
    for field, parts in (
        ("input", a.GEN_AI_USAGE_INPUT_PARTS),
        ("output", a.GEN_AI_USAGE_OUTPUT_PARTS),
    ):
        if fields[field] is None:
            counts = [count for name in parts if (count := _count(attrs, (name,))) is not None]
            if counts:
                fields[field] = min(sum(counts), U64_MAX)
    raw = attrs.get(a.LOGFIRE_USAGE_RAW)
    if raw is not None:
        _read_raw_usage(raw, fields)
    write = fields["cache_write"]
    five, hour = fields["write_5m"], fields["write_1h"]
    if write is not None and (five is None) != (hour is None):
        # One part of the split is given (pydantic-ai writes the 1-hour part only): the
        # other is the rest of the cache write, Anthropic having these two TTLs only.
        known = five if five is not None else hour
        if known <= write:
            fields["write_1h" if hour is None else "write_5m"] = write - known


def _read_raw_usage(raw: object, fields: dict[str, Any]) -> None:
    """Fill the fields still missing from logfire's `gen_ai.usage.raw` (a provider usage
    object as JSON); a value that is not such JSON is a throttled warning."""
    name = a.LOGFIRE_USAGE_RAW
    if not isinstance(raw, str) or len(raw) > a.USAGE_RAW_MAX_CHARS:
        _warn.warning(
            f"{name}:size",
            "span attribute %s is not a string of at most %d characters; ignored",
            name,
            a.USAGE_RAW_MAX_CHARS,
        )
        return
    try:
        usage = msgspec.json.decode(raw)
    except (msgspec.DecodeError, ValueError) as exc:
        _warn.warning(f"{name}:json", "span attribute %s is not JSON (%s); ignored", name, exc)
        return
    if not isinstance(usage, dict):
        _warn.warning(f"{name}:object", "span attribute %s is not a JSON object; ignored", name)
        return
    for field, paths in a.USAGE_RAW_PATHS.items():
        if fields[field] is not None:
            continue
        for path in paths:
            node: object = usage
            for key in path.split("."):
                node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                continue
            count = _coerce_count(node, U64_MAX)
            if count is None:
                _warn.warning(
                    f"{name}:{path}", "%s: %s=%r is not a token count; ignored", name, path, node
                )
                continue
            fields[field] = count
            break


def _count(
    attrs: Mapping[str, AttributeValue], names: tuple[str, ...], limit: int = U64_MAX
) -> int | None:
    """The first valid count under `names`; None if none is present, 0 if all are bad."""
    found = False
    for name in names:
        value = attrs.get(name)
        if value is None:
            continue
        if type(value) is int and 0 <= value <= limit:
            return value
        count = _coerce_count(value, limit)
        if count is not None:
            return count
        found = True
        _warn.warning(
            name, "span attribute %s=%s is not a token count; recorded as 0", name, _shown(value)
        )
    return 0 if found else None


def _coerce_count(value: object, limit: int) -> int | None:
    # Integral floats (JavaScript producers) and digit strings are counts in another type.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        # Python's int() refuses over 4,300 digits (leading zeros included): a string
        # longer than any count of this width is not one, and is not converted.
        significant = value.lstrip("0")
        if len(significant) > _MAX_COUNT_DIGITS:
            return None
        value = int(significant or "0")
    if type(value) is int and 0 <= value <= limit:
        return value
    return None


def _text(attrs: Mapping[str, AttributeValue], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str):
            if value:
                return value
        elif type(value) is int and value.bit_length() <= _MAX_TEXT_INT_BITS:
            return str(value)
        elif value is not None:
            _warn.warning(
                name, "span attribute %s=%s is not a string; ignored", name, _shown(value)
            )
    return None


def _flag(attrs: Mapping[str, AttributeValue], name: str) -> bool:
    value = attrs.get(name)
    if value is None or type(value) is bool:
        return bool(value)
    _warn.warning(
        name, "span attribute %s=%s is not a bool; recorded as false", name, _shown(value)
    )
    return False


def _shown(value: object) -> str:
    """`repr(value)` cut to a log line's length; never raises (a huge int has no repr
    within Python's digit limit)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to print>"
    if len(text) > _SHOWN_CHARS:
        return f"{text[:_SHOWN_CHARS]}...({len(text)} characters)"
    return text
