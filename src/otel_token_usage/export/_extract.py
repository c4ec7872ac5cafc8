"""span -> record: which finished spans are LLM calls, and what their line says.

One function decides this for everything that reads spans (the in-process exporter and
file ingestion), so the two can never disagree. It never raises on attribute values
(`_fields` reads them): a value that is not a valid token count is replaced by the next
producer's name for the same field, else 0, and a throttled warning names the attribute.

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

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage.record import BUDGET_FIELDS, U64_MAX, RecordLine, format_ts
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION, UNKNOWN, is_llm_call

from ._fields import BUDGET_NAMES, NO_BUDGET, SpanFields, span_fields

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
    raw = span_fields(attrs)
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

    if BUDGET_NAMES.isdisjoint(attrs):
        budget = NO_BUDGET
    else:
        budget = tuple(
            default if (value := getattr(raw, field)) is None else value
            for field, default in zip(BUDGET_FIELDS, NO_BUDGET, strict=True)
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
