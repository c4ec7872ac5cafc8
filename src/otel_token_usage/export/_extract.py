"""span -> record: which finished spans are LLM calls, and what their line says.

One function decides this for everything that reads spans (the in-process exporter and,
later, file ingestion), so the two can never disagree. It never raises on attribute
values: a value that is not a valid token count is replaced by the next producer's name
for the same field, else 0, and a throttled warning names the attribute.

Values at the edges never cost the call its line:
- every count is read within its Rust width, and every sum is bounded to it: a cache
  write summed from a 5-minute and a 1-hour part that passes u64 is written as
  `U64_MAX` (saturated), never as a number a serde reader rejects;
- a digit string too long for its width (even one past Python's int-to-string digit
  limit) is not a count: it is recorded as 0 with the warning, without converting it;
- an integer session, model or provider too large to print is ignored like any other
  unusable text (the span goes to the fallback session);
- an end time outside what RFC 3339 can write becomes the nearest time it can
  (`record.format_ts`), and a duration is bounded to u64 milliseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.record import (
    BUDGET_FIELDS,
    COUNT_LIMITS,
    U32_MAX,
    U64_MAX,
    RecordLine,
    format_ts,
)
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION, UNKNOWN, is_llm_call

if TYPE_CHECKING:
    from otel_token_usage.record import TokenUsageRecord

__all__ = [
    "SpanFields",
    "extract_line",
    "extract_record",
    "record_line",
    "span_attributes",
    "span_fields",
    "upstream_bedrock_span",
]

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
_BUDGET_NAMES = frozenset(_B.values())
_NO_BUDGET: tuple[Any, ...] = tuple(
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


def record_line(  # noqa: PLR0917 - positional on purpose: called once per span
    attrs: Mapping[str, AttributeValue],
    end_ns: int,
    start_ns: int | None = None,
    trace_id: int | None = None,
    span_id: int | None = None,
    fallback_session: str = DEFAULT_FALLBACK_SESSION,
    extended: bool = True,
) -> RecordLine | None:
    """The `RecordLine` of one finished span given as its parts, or None if it is not an
    LLM call: the one extraction every reader of spans shares (in-process or from files).

    Its values are already checked, so `record.encode_lines` writes it without another
    validation pass. Extension fields are set only when known; `extended=False` leaves
    them all unset (exactly the twenty Rust fields).
    """
    if not is_llm_call(attrs):
        return None
    raw = _read(attrs)
    cache_read = raw.cache_read or 0
    write_5m = raw.write_5m if raw.write_5m is not None else raw.write_5m_native
    write_1h = raw.write_1h if raw.write_1h is not None else raw.write_1h_native
    cache_write = raw.cache_write if raw.cache_write is not None else raw.cache_write_legacy
    if cache_write is None:
        # Each part fits u64; their sum may not: saturate rather than lose the call.
        cache_write = min((write_5m or 0) + (write_1h or 0), U64_MAX)
    # The conventions' input is inclusive of cache reads and writes; a producer whose
    # input is smaller than its cache counts was already reporting fresh input only.
    input_tokens = raw.input or 0
    cached = cache_read + cache_write
    if input_tokens >= cached and not upstream_bedrock_span(attrs):
        input_tokens -= cached

    if _BUDGET_NAMES.isdisjoint(attrs):
        budget = _NO_BUDGET
    else:
        budget = tuple(
            default if (value := getattr(raw, field)) is None else value
            for field, default in zip(BUDGET_FIELDS, _NO_BUDGET, strict=True)
        )
    if extended:
        ids = (
            (f"{trace_id:032x}", f"{span_id:016x}")
            if trace_id is not None and span_id is not None
            else (None, None)
        )
        duration = None if start_ns is None else max(0, end_ns - start_ns) // 1_000_000
        if duration is not None and duration > U64_MAX:  # only from absurd span times
            duration = U64_MAX
        extensions: tuple[Any, ...] = (*ids, duration, write_5m, write_1h)
    else:
        extensions = ()
    return RecordLine(
        format_ts(end_ns),
        raw.session or fallback_session,
        raw.model or raw.request_model or UNKNOWN,
        a.PROVIDER_ALIASES.get(raw.provider, raw.provider) if raw.provider else UNKNOWN,
        raw.message_count or 0,
        cache_write,
        cache_read,
        input_tokens,
        raw.output or 0,
        raw.reasoning or 0,
        *budget,
        *extensions,
    )


def upstream_bedrock_span(attrs: Mapping[str, AttributeValue]) -> bool:
    """True for a Bedrock span of the upstream botocore instrumentations
    (`opentelemetry-instrumentation-botocore`, and the JavaScript aws-sdk one), whose
    `gen_ai.usage.input_tokens` is Bedrock's raw `inputTokens`: the fresh input alone,
    not the conventions' inclusive count. Recognised by what those spans carry and ours
    do not: `rpc.system` = `aws-api` and `gen_ai.system` = `aws.bedrock`, with no
    `gen_ai.provider.name` (a producer that writes the current conventions' provider
    name is taken to write their inclusive input too)."""
    return (
        attrs.get(a.RPC_SYSTEM) == a.RPC_SYSTEM_AWS_API
        and attrs.get(a.GEN_AI_SYSTEM) == a.PROVIDER_BEDROCK
        and a.GEN_AI_PROVIDER_NAME not in attrs
    )


def extract_line(
    span: ReadableSpan,
    attrs: Mapping[str, AttributeValue] | None = None,
    fallback_session: str = DEFAULT_FALLBACK_SESSION,
    extended: bool = True,
) -> RecordLine | None:
    """`record_line` for an SDK span (`attrs`: its attributes, if already copied)."""
    if attrs is None:
        attrs = span_attributes(span)
    context = span.context
    # Positional: this runs once per exported span.
    return record_line(
        attrs,
        span.end_time or time.time_ns(),
        span.start_time,
        context.trace_id if context is not None else None,
        context.span_id if context is not None else None,
        fallback_session,
        extended,
    )


def extract_record(
    span: ReadableSpan,
    *,
    fallback_session: str = DEFAULT_FALLBACK_SESSION,
    extended: bool = True,
) -> TokenUsageRecord | None:
    """The `TokenUsageRecord` of `span`, or None if it is not an LLM call. Never raises
    on attribute values (see the module docstring)."""
    from otel_token_usage.record import TokenUsageRecord  # noqa: PLC0415 - pydantic only for this API

    line = extract_line(span, fallback_session=fallback_session, extended=extended)
    if line is None:
        return None
    return TokenUsageRecord.model_construct(**msgspec.structs.asdict(line))


def span_attributes(span: ReadableSpan) -> dict[str, AttributeValue]:
    """A plain-dict copy of the span's attributes (cheap for SDK spans)."""
    raw = span.attributes
    if raw is None:
        return {}
    return raw.copy() if hasattr(raw, "copy") else dict(raw)


SpanFields = _Raw
"""What a span says per field, None where it says nothing (see `span_fields`)."""


def span_fields(attrs: Mapping[str, AttributeValue]) -> SpanFields:
    """Each field as the span gives it, None where it gives none: what merging the spans
    of one call needs to tell a reported count from a missing one (`_merge`)."""
    return _read(attrs)


def _read(attrs: Mapping[str, AttributeValue]) -> _Raw:
    """The span's fields: in one C call when it uses only current names and clean
    values, else name by name (same result, plus warnings for bad values)."""
    if _OTHER_NAMES.isdisjoint(attrs):
        try:
            return msgspec.convert(attrs, _Raw)
        except msgspec.ValidationError:
            pass
    return _read_by_name(attrs)


def _read_by_name(attrs: Mapping[str, AttributeValue]) -> _Raw:
    fields: dict[str, Any] = {field: _count(attrs, names) for field, names in _COUNT_READS.items()}
    fields.update((field, _text(attrs, names)) for field, names in _TEXT_READS.items())
    for field, default in zip(BUDGET_FIELDS, _NO_BUDGET, strict=True):
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
