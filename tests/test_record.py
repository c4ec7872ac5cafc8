"""TokenUsageRecord: the Rust engine's line, byte for byte, and its integer widths."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from otel_token_usage import TokenBudgetUsage, TokenUsageRecord
from otel_token_usage.record import (
    EXTENSION_FIELDS,
    SEED_FIELDS,
    U32_MAX,
    U64_MAX,
    encode_line,
    format_ts,
)

# serde_json::to_string of the seed's own test values (fields in declaration order).
SEED_LINE = (
    '{"ts":"2026-06-15T00:00:00Z","session_id":"sess-1","model":"claude-opus-4-8",'
    '"provider":"anthropic","message_count":24,"cache_creation_input_tokens":1500,'
    '"cache_read_input_tokens":12000,"input_tokens":800,"output_tokens":300,'
    '"thinking_tokens":7,"system_tokens":5000,"summary_tokens":2000,"window_tokens":3000,'
    '"total_tokens":10000,"max_context_tokens":200000,"budget_limit":180000,'
    '"prompt_cached_tool_outputs":1,"prompt_cached_tool_tokens_saved":42,'
    '"truncation_occurred":false,"segments_removed":0}'
)


def seed_record() -> TokenUsageRecord:
    usage = TokenBudgetUsage(
        system_tokens=5000,
        summary_tokens=2000,
        window_tokens=3000,
        total_tokens=10000,
        max_context_tokens=200_000,
        budget_limit=180_000,
        truncation_occurred=False,
        segments_removed=0,
        prompt_cached_tool_outputs=1,
        prompt_cached_tool_tokens_saved=42,
        thinking_tokens=7,
        cache_read_input_tokens=12_000,
    )
    return TokenUsageRecord.new(
        "2026-06-15T00:00:00Z",
        "sess-1",
        "claude-opus-4-8",
        "anthropic",
        24,
        usage,
        1500,
        12_000,
        800,
        300,
        7,
    )


def test_seed_test_values_give_the_rust_line() -> None:
    """The seed's own test record serializes to exactly serde_json's compact line."""
    line = seed_record().to_json_line(seed=True)
    assert line == SEED_LINE
    assert "\n" not in line


def test_fields_are_the_twenty_rust_fields_then_extensions() -> None:
    """Fields 1-20 keep the Rust order; extensions only ever follow them."""
    assert SEED_FIELDS[:5] == ("ts", "session_id", "model", "provider", "message_count")
    assert SEED_FIELDS[-1] == "segments_removed"
    assert len(SEED_FIELDS) == 20
    assert list(TokenUsageRecord.model_fields) == [*SEED_FIELDS, *EXTENSION_FIELDS]


def test_no_budget_means_zero_and_false_as_rust_unwrap_or() -> None:
    """Without a snapshot every budget field is 0 and truncation_occurred is false."""
    record = TokenUsageRecord.new("t", "s", "m", "p", 0, None, 1, 2, 3, 4, 5)
    assert record.system_tokens == 0
    assert record.truncation_occurred is False
    assert record.prompt_tokens == 1 + 2 + 3


def test_extension_fields_follow_field_20_and_seed_mode_drops_them() -> None:
    """Set extension fields are appended after segments_removed; seed mode omits them."""
    record = seed_record().model_copy(
        update={
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "duration_ms": 1234,
            "cache_creation_5m_input_tokens": 500,
            "cache_creation_1h_input_tokens": 1000,
        }
    )
    extended = record.to_json_line()
    assert extended.startswith(SEED_LINE[:-1] + ',"trace_id":"0af7651916cd43dd8448eb211c80319c"')
    assert extended.endswith(
        '"duration_ms":1234,"cache_creation_5m_input_tokens":500,'
        '"cache_creation_1h_input_tokens":1000}'
    )
    assert record.to_json_line(seed=True) == SEED_LINE


NULL_EXTENSIONS = ",".join(f'"{name}":null' for name in EXTENSION_FIELDS)


def test_every_extended_line_has_every_extension_key() -> None:
    """The extended line writes every extension field, null when unknown, so that every
    line has the same keys (tools that infer a schema from the first lines see them all);
    the seed line has none of them."""
    record = seed_record().model_copy(update={"duration_ms": 5})
    known = NULL_EXTENSIONS.replace('"duration_ms":null', '"duration_ms":5')
    assert record.to_json_line() == f"{SEED_LINE[:-1]},{known}}}"
    assert seed_record().to_json_line() == f"{SEED_LINE[:-1]},{NULL_EXTENSIONS}}}"
    values = {name: getattr(record, name) for name in (*SEED_FIELDS, *EXTENSION_FIELDS)}
    assert encode_line(values) == record.to_json_line().encode() + b"\n"
    seed_values = {name: values[name] for name in SEED_FIELDS}
    assert encode_line(seed_values) == SEED_LINE.encode() + b"\n"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_tokens", -1),
        ("input_tokens", U64_MAX + 1),
        ("system_tokens", U32_MAX + 1),
        ("prompt_cached_tool_tokens_saved", U32_MAX + 1),
        ("message_count", -1),
        ("segments_removed", U64_MAX + 1),
        ("output_tokens", True),
        ("output_tokens", 1.0),
        ("output_tokens", "12"),
        ("truncation_occurred", 1),
    ],
)
def test_integer_fields_refuse_values_outside_their_rust_type(field: str, value: Any) -> None:
    """Negatives, bools, floats, strings and values past u32/u64 are refused."""
    data = seed_record().model_dump() | {field: value}
    with pytest.raises(ValidationError):
        TokenUsageRecord.model_validate(data)


def test_integer_fields_accept_their_rust_maxima() -> None:
    """u64::MAX and u32::MAX are accepted and written as plain JSON integers."""
    data = seed_record().model_dump() | {"input_tokens": U64_MAX, "system_tokens": U32_MAX}
    line = TokenUsageRecord.model_validate(data).to_json_line()
    assert f'"input_tokens":{U64_MAX},' in line
    assert f'"system_tokens":{U32_MAX},' in line


@pytest.mark.parametrize(
    "text",
    ['quote" back\\slash /', "\x00\x01\x1f\x7f", "é 中文 😀 \u2028\u2029\ufeff", "\t\n\r\b\f"],
)
def test_fast_encoder_matches_the_model_serializer(text: str) -> None:
    """encode_line (the export path) writes the same bytes as to_json_line, plus \\n."""
    record = seed_record().model_copy(update={"session_id": text, "model": text})
    values = record.model_dump()
    assert encode_line(values) == record.to_json_line().encode() + b"\n"


def test_lone_surrogates_are_replaced_not_lost() -> None:
    """A string that is not valid Unicode is written with U+FFFD instead of failing."""
    record = seed_record()
    values = {name: getattr(record, name) for name in SEED_FIELDS} | {"model": "a\ud800b"}
    line = encode_line(values)
    assert '"model":"a\ufffdb"'.encode() in line


def test_timestamps_are_rfc3339_utc_milliseconds() -> None:
    """Span times (ns) become RFC 3339 UTC with milliseconds and a Z suffix."""
    assert format_ts(1_781_481_600_123_456_789) == "2026-06-15T00:00:00.123Z"
    assert format_ts(0) == "1970-01-01T00:00:00.000Z"


def test_lines_read_back_into_equal_records() -> None:
    """A written line parses back to the same record; unknown trailing fields are ignored."""
    record = seed_record()
    line = record.to_json_line()[:-1] + ',"future_field":1}'
    assert TokenUsageRecord.model_validate_json(line) == record
