"""Values at the edges never cost a call its line, nor give a line a reader rejects
(issue 9, item 6): each case goes through the real SDK and the real exporter, and the line
must pass the strict `TokenUsageRecord` model (the widths a serde reader enforces)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenUsageRecord, TokenUsageSpanExporter
from otel_token_usage import semconv as a
from otel_token_usage.record import LOG_FILE_NAME, U64_MAX

from .helpers import chat_attributes, read_lines

RFC3339_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class ExportOne(Protocol):
    def __call__(
        self,
        attributes: dict[str, AttributeValue],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        session: str = "sess-1",
    ) -> dict[str, Any]: ...


@pytest.fixture
def export_one(
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    exporter: TokenUsageSpanExporter,
    sessions_dir: Path,
) -> ExportOne:
    """Export one span through the exporter; return its one line, checked strictly."""

    def export(
        attributes: dict[str, AttributeValue],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        session: str = "sess-1",
    ) -> dict[str, Any]:
        tracer = tracer_provider.get_tracer("tests")
        span = tracer.start_span(
            "chat model", kind=SpanKind.CLIENT, attributes=attributes, start_time=start_ns
        )
        span.end(end_time=end_ns)
        finished: ReadableSpan = span_exporter.get_finished_spans()[-1]
        assert exporter.export([finished]) is SpanExportResult.SUCCESS
        [line] = read_lines(sessions_dir / session / LOG_FILE_NAME)
        TokenUsageRecord.model_validate_json(line)  # every width as the Rust reader has it
        fields: dict[str, Any] = json.loads(line)
        return fields

    return export


def test_cache_write_split_summing_past_u64_saturates(export_one: ExportOne) -> None:
    """A 5m + 1h split whose sum passes u64 writes U64_MAX, not 2^64; the parts stay."""
    attrs = chat_attributes()
    del attrs[a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS]
    attrs[a.TOKEN_USAGE_CACHE_WRITE_5M] = U64_MAX
    attrs[a.TOKEN_USAGE_CACHE_WRITE_1H] = 1
    line = export_one(attrs)
    assert line["cache_creation_input_tokens"] == U64_MAX
    assert line["cache_creation_5m_input_tokens"] == U64_MAX
    assert line["cache_creation_1h_input_tokens"] == 1


@pytest.mark.parametrize("digits", ["9" * 5000, "0" * 4990 + "123", "1" * 21])
def test_overlong_digit_string_is_a_bad_count_not_a_lost_call(
    export_one: ExportOne, digits: str
) -> None:
    """A digit string past Python's 4,300-digit limit, or past u64, still gives the call
    its line: the count is 0 (or its value, when its significant digits fit)."""
    attrs = chat_attributes(**{a.GEN_AI_USAGE_OUTPUT_TOKENS: digits})
    line = export_one(attrs)
    expected = 123 if digits.endswith("123") else 0
    assert line["output_tokens"] == expected
    assert line["input_tokens"] == 14_300 - 12_000 - 1_500  # the rest of the call intact


def test_unprintably_large_integer_session_goes_to_the_fallback(export_one: ExportOne) -> None:
    """An integer session id too large for str() (Python's digit limit) does not cost the
    call its line: it is ignored like any unusable text."""
    attrs = chat_attributes(**{a.GEN_AI_CONVERSATION_ID: 10**5000})
    line = export_one(attrs, session="no-session")
    assert line["output_tokens"] == 300


@pytest.mark.parametrize(
    ("end_ns", "ts"),
    [
        (10**21, "9999-12-31T23:59:59.999Z"),  # year 33658
        (10**40, "9999-12-31T23:59:59.999Z"),  # past what gmtime() can convert
        (-(10**30), "1970-01-01T00:00:00.000Z"),
        (-1, "1970-01-01T00:00:00.000Z"),
        (253_402_300_799_999_000_000, "9999-12-31T23:59:59.999Z"),  # the last one as it is
    ],
)
def test_end_time_out_of_range_still_writes_an_rfc3339_ts(
    export_one: ExportOne, end_ns: int, ts: str
) -> None:
    """An end time past year 9999 or before 1970 is clamped to the nearest time RFC 3339
    writes; the duration stays within u64."""
    line = export_one(chat_attributes(), start_ns=0, end_ns=end_ns)
    assert line["ts"] == ts
    assert RFC3339_MILLIS.match(line["ts"])
    datetime.fromisoformat(line["ts"])
    assert 0 <= line["duration_ms"] <= U64_MAX
