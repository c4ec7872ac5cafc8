"""span -> record: which finished spans are LLM calls, and what their line says.

One function decides this for everything that reads spans (the in-process exporter and,
later, file ingestion), so the two can never disagree. It never raises on attribute
values: a value that is not a valid token count is replaced by the next producer's name
for the same field, else 0, and a throttled warning names the attribute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, cast

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from . import attributes as a
from ._throttle import ThrottledLogger
from .record import BUDGET_FIELDS, COUNT_LIMITS, U64_MAX, TokenUsageRecord, format_ts

__all__ = ["DEFAULT_FALLBACK_SESSION", "extract_record", "extract_values", "is_llm_call"]

DEFAULT_FALLBACK_SESSION = "no-session"
"""Where calls go whose span names no session: kept, never dropped."""

UNKNOWN = "unknown"
"""Model or provider of a span that names neither."""

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)

_Attrs = Mapping[str, AttributeValue]

# (field, attribute name, upper limit); no limit marks the one bool.
_BUDGET_READS: tuple[tuple[str, tuple[str, ...], int | None], ...] = tuple(
    (field, (a.BUDGET_ATTRIBUTES[field],), COUNT_LIMITS.get(field)) for field in BUDGET_FIELDS
)


def is_llm_call(attrs: _Attrs) -> bool:
    """True for a span of one model inference that carries usage.

    Inference is `gen_ai.operation.name` in chat/text_completion/generate_content, an
    OpenInference span of kind LLM, or (older OpenLLMetry) `llm.request.type` chat or
    completion. Aggregates (agent, tool, workflow spans) are never calls even when they
    carry summed usage, so no token is counted twice.
    """
    if attrs.get(a.OPENLLMETRY_SPAN_KIND) in a.OPENLLMETRY_AGGREGATE_KINDS:
        return False
    operation = attrs.get(a.GEN_AI_OPERATION_NAME)
    if operation is not None:
        inference = operation in a.INFERENCE_OPERATIONS
    elif (kind := attrs.get(a.OPENINFERENCE_SPAN_KIND)) is not None:
        inference = kind == a.OPENINFERENCE_LLM_KIND
    else:
        inference = attrs.get(a.OPENLLMETRY_REQUEST_TYPE) in a.OPENLLMETRY_REQUEST_TYPES
    return inference and not a.USAGE_ATTRIBUTES.isdisjoint(attrs)


def extract_values(
    span: ReadableSpan,
    *,
    fallback_session: str = DEFAULT_FALLBACK_SESSION,
    extended: bool = True,
) -> dict[str, Any] | None:
    """The record of `span` as a dict in line order, or None if it is not an LLM call.

    Values are already checked, so `record.encode_line` can write them without another
    validation pass. `extended=False` gives exactly the twenty Rust fields.
    """
    raw = span.attributes
    if not raw:
        return None
    attrs: dict[str, AttributeValue] = raw.copy() if hasattr(raw, "copy") else dict(raw)
    if not is_llm_call(attrs):
        return None

    cache_read = _count(attrs, a.READ_CACHE_READ, U64_MAX) or 0
    write_5m = _count(attrs, a.READ_CACHE_WRITE_5M, U64_MAX)
    write_1h = _count(attrs, a.READ_CACHE_WRITE_1H, U64_MAX)
    cache_write = _count(attrs, a.READ_CACHE_WRITE, U64_MAX)
    if cache_write is None:
        cache_write = (write_5m or 0) + (write_1h or 0)
    # The conventions' input is inclusive of cache reads and writes; a producer whose
    # input is smaller than its cache counts was already reporting fresh input only.
    input_tokens = _count(attrs, a.READ_INPUT, U64_MAX) or 0
    cached = cache_read + cache_write
    if input_tokens >= cached:
        input_tokens -= cached

    end = span.end_time or time.time_ns()
    values: dict[str, Any] = {
        "ts": format_ts(end),
        "session_id": _text(attrs, a.READ_SESSION) or fallback_session,
        "model": _text(attrs, a.READ_MODEL) or UNKNOWN,
        "provider": _text(attrs, a.READ_PROVIDER) or UNKNOWN,
        "message_count": _count(attrs, (a.TOKEN_USAGE_MESSAGE_COUNT,), U64_MAX) or 0,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "input_tokens": input_tokens,
        "output_tokens": _count(attrs, a.READ_OUTPUT, U64_MAX) or 0,
        "thinking_tokens": _count(attrs, a.READ_REASONING, U64_MAX) or 0,
    }
    for field, names, limit in _BUDGET_READS:
        if limit is not None:
            values[field] = _count(attrs, names, limit) or 0
        else:
            values[field] = _flag(attrs, names[0])
    if extended:
        context = span.context
        if context is not None:
            values["trace_id"] = f"{context.trace_id:032x}"
            values["span_id"] = f"{context.span_id:016x}"
        if span.start_time is not None and span.end_time is not None:
            values["duration_ms"] = max(0, span.end_time - span.start_time) // 1_000_000
        values["cache_creation_5m_input_tokens"] = write_5m
        values["cache_creation_1h_input_tokens"] = write_1h
    return values


def extract_record(
    span: ReadableSpan,
    *,
    fallback_session: str = DEFAULT_FALLBACK_SESSION,
    extended: bool = True,
) -> TokenUsageRecord | None:
    """The `TokenUsageRecord` of `span`, or None if it is not an LLM call. Never raises
    on attribute values (see the module docstring)."""
    values = extract_values(span, fallback_session=fallback_session, extended=extended)
    if values is None:
        return None
    return TokenUsageRecord.model_construct(**values)


def _count(attrs: dict[str, AttributeValue], names: tuple[str, ...], limit: int) -> int | None:
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
        _warn.warning(name, "span attribute %s=%r is not a token count; recorded as 0", name, value)
    return 0 if found else None


def _coerce_count(value: object, limit: int) -> int | None:
    # Integral floats (JavaScript producers) and digit strings are counts in another type.
    integral_float = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if integral_float or digits:
        value = int(cast(float | str, value))
    if type(value) is int and 0 <= value <= limit:
        return value
    return None


def _text(attrs: dict[str, AttributeValue], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str):
            if value:
                return value
        elif type(value) is int:
            return str(value)
        elif value is not None:
            _warn.warning(name, "span attribute %s=%r is not a string; ignored", name, value)
    return None


def _flag(attrs: dict[str, AttributeValue], name: str) -> bool:
    value = attrs.get(name)
    if value is None or type(value) is bool:
        return bool(value)
    _warn.warning(name, "span attribute %s=%r is not a bool; recorded as false", name, value)
    return False
