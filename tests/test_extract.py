"""span -> record: every attribute convention, the input arithmetic, and what is skipped."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.util.types import AttributeValue

from otel_token_usage import extract_record
from otel_token_usage.export import extract_line
from otel_token_usage.record import SEED_FIELDS, encode_lines
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION

from .helpers import MakeSpan, chat_attributes


def test_current_genai_names_become_the_record(make_span: MakeSpan) -> None:
    """Inclusive gen_ai.usage.input_tokens minus cache reads and writes is the fresh input."""
    span = make_span(chat_attributes())
    record = extract_record(span)
    assert record is not None
    assert record.session_id == "sess-1"
    assert record.model == "claude-opus-4-8"
    assert record.provider == "anthropic"
    assert record.cache_read_input_tokens == 12_000
    assert record.cache_creation_input_tokens == 1_500
    assert record.input_tokens == 800
    assert record.output_tokens == 300
    assert record.thinking_tokens == 7
    assert record.prompt_tokens == 14_300
    assert span.context is not None
    assert record.trace_id == f"{span.context.trace_id:032x}"
    assert record.span_id == f"{span.context.span_id:016x}"
    assert span.end_time is not None and span.start_time is not None
    assert record.duration_ms == (span.end_time - span.start_time) // 1_000_000


def test_older_genai_names(make_span: MakeSpan) -> None:
    """gen_ai.system, prompt/completion_tokens and cache_creation.input_tokens are read."""
    span = make_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-5",
            "session.id": "legacy",
            "gen_ai.usage.prompt_tokens": 1000,
            "gen_ai.usage.completion_tokens": 20,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100,
        }
    )
    record = extract_record(span)
    assert record is not None
    assert (record.session_id, record.provider, record.model) == ("legacy", "openai", "gpt-5")
    assert (record.input_tokens, record.cache_read_input_tokens) == (300, 600)
    assert (record.cache_creation_input_tokens, record.output_tokens) == (100, 20)


def test_openllmetry_names(make_span: MakeSpan) -> None:
    """OpenLLMetry's underscore cache names and reasoning_tokens are read."""
    span = make_span(
        {
            "gen_ai.system": "Anthropic",
            "llm.request.type": "chat",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.output_tokens": 90,
            "gen_ai.usage.cache_read_input_tokens": 4000,
            "gen_ai.usage.cache_creation_input_tokens": 900,
            "gen_ai.usage.reasoning_tokens": 40,
        },
        name="anthropic.chat",
    )
    record = extract_record(span)
    assert record is not None
    assert record.session_id == DEFAULT_FALLBACK_SESSION
    assert (record.input_tokens, record.cache_read_input_tokens) == (100, 4000)
    assert (record.cache_creation_input_tokens, record.thinking_tokens) == (900, 40)


def test_openinference_names(make_span: MakeSpan) -> None:
    """OpenInference LLM spans: llm.token_count.*, llm.model_name, llm.provider."""
    span = make_span(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "session.id": "oi",
            "llm.token_count.prompt": 2048,
            "llm.token_count.completion": 64,
            "llm.token_count.prompt_details.cache_read": 1024,
            "llm.token_count.prompt_details.cache_write": 0,
            "llm.token_count.completion_details.reasoning": 32,
        },
        name="ChatCompletion",
    )
    record = extract_record(span)
    assert record is not None
    assert (record.session_id, record.model, record.provider) == ("oi", "gpt-4o", "openai")
    assert (record.input_tokens, record.cache_read_input_tokens) == (1024, 1024)
    assert (record.output_tokens, record.thinking_tokens) == (64, 32)


def test_anthropic_native_span_with_ttl_split(make_span: MakeSpan) -> None:
    """The Anthropic SDK's own span: the 5m/1h split lands in the extension fields."""
    span = make_span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-opus-4-8",
            "gen_ai.response.model": "claude-opus-4-8-20261001",
            "gen_ai.usage.input_tokens": 3100,
            "gen_ai.usage.cache_write.input_tokens": 3000,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 1000,
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 2000,
            "gen_ai.usage.output_tokens": 12,
        },
        name="anthropic.messages.create",
    )
    record = extract_record(span)
    assert record is not None
    assert record.model == "claude-opus-4-8-20261001"
    assert record.input_tokens == 100
    assert record.cache_creation_5m_input_tokens == 1000
    assert record.cache_creation_1h_input_tokens == 2000


def test_ttl_split_alone_gives_the_cache_write_total(make_span: MakeSpan) -> None:
    """Without a cache-write total, the 5m and 1h parts are summed."""
    attrs = chat_attributes(
        **{
            "gen_ai.usage.input_tokens": 12_500,
            "token_usage.cache_write.5m.input_tokens": 100,
            "token_usage.cache_write.1h.input_tokens": 300,
        }
    )
    del attrs["gen_ai.usage.cache_write.input_tokens"]
    record = extract_record(make_span(attrs))
    assert record is not None
    assert record.cache_creation_input_tokens == 400
    assert record.input_tokens == 100


def test_explicit_cache_write_total_wins_over_the_split(make_span: MakeSpan) -> None:
    """A producer's cache-write total is taken as reported, the split kept beside it."""
    attrs = chat_attributes(**{"token_usage.cache_write.1h.input_tokens": 300})
    record = extract_record(make_span(attrs))
    assert record is not None
    assert record.cache_creation_input_tokens == 1_500
    assert record.cache_creation_1h_input_tokens == 300
    assert record.cache_creation_5m_input_tokens is None


def test_already_exclusive_input_is_not_made_negative(make_span: MakeSpan) -> None:
    """An input smaller than the cache counts was already fresh-only: taken as it is."""
    span = make_span(chat_attributes(**{"gen_ai.usage.input_tokens": 800}))
    record = extract_record(span)
    assert record is not None
    assert record.input_tokens == 800
    assert record.prompt_tokens == 800 + 12_000 + 1_500


def test_budget_and_message_count_attributes(make_span: MakeSpan) -> None:
    """token_usage.budget.* and token_usage.message_count fill the prompt-side fields."""
    budget: dict[str, AttributeValue] = {
        "token_usage.budget.system_tokens": 5000,
        "token_usage.budget.summary_tokens": 2000,
        "token_usage.budget.window_tokens": 3000,
        "token_usage.budget.total_tokens": 10000,
        "token_usage.budget.max_context_tokens": 200_000,
        "token_usage.budget.budget_limit": 180_000,
        "token_usage.budget.prompt_cached_tool_outputs": 1,
        "token_usage.budget.prompt_cached_tool_tokens_saved": 42,
        "token_usage.budget.truncation_occurred": True,
        "token_usage.budget.segments_removed": 3,
        "token_usage.message_count": 24,
    }
    record = extract_record(make_span(chat_attributes(**budget)))
    assert record is not None
    assert record.message_count == 24
    assert (record.system_tokens, record.budget_limit) == (5000, 180_000)
    assert record.prompt_cached_tool_tokens_saved == 42
    assert record.truncation_occurred is True
    assert record.segments_removed == 3


@pytest.mark.parametrize(
    ("name", "attrs"),
    [
        ("invoke_agent planner", chat_attributes(**{"gen_ai.operation.name": "invoke_agent"})),
        ("execute_tool search", chat_attributes(**{"gen_ai.operation.name": "execute_tool"})),
        ("embeddings m", chat_attributes(**{"gen_ai.operation.name": "embeddings"})),
        ("workflow", chat_attributes(**{"traceloop.span.kind": "workflow"})),
        ("agent", {"openinference.span.kind": "AGENT", "llm.token_count.prompt": 10}),
        ("GET /", {"http.request.method": "GET"}),
        ("chat m", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}),
        ("llm", {"llm.request.type": "rerank", "gen_ai.usage.input_tokens": 3}),
    ],
)
def test_non_llm_and_aggregate_spans_are_skipped(
    make_span: MakeSpan, name: str, attrs: dict[str, AttributeValue]
) -> None:
    """Agent, tool, workflow and other spans (even with summed usage) give no record;
    so does an inference span that carries no usage at all."""
    assert extract_record(make_span(attrs, name=name)) is None


@pytest.mark.parametrize(
    "bad",
    [-5, 1.5, True, "12a", "", 2**64, (1, 2), float("nan")],
)
def test_bad_counts_fall_back_to_zero_with_a_warning(
    make_span: MakeSpan, caplog: pytest.LogCaptureFixture, bad: AttributeValue
) -> None:
    """A value that is not a token count never raises: 0, and a warning naming it."""
    caplog.set_level(logging.WARNING, logger="otel_token_usage.export._fields")
    from otel_token_usage.export import _fields

    _fields._warn._throttle._state.clear()
    record = extract_record(make_span(chat_attributes(**{"gen_ai.usage.output_tokens": bad})))
    assert record is not None
    assert record.output_tokens == 0
    assert record.input_tokens == 800
    assert "gen_ai.usage.output_tokens" in caplog.text


def test_bad_u32_budget_value_falls_back_to_zero(make_span: MakeSpan) -> None:
    """A budget value past u32 is not a u32 count: 0, the record still written."""
    attrs = chat_attributes(**{"token_usage.budget.system_tokens": 2**32})
    record = extract_record(make_span(attrs))
    assert record is not None
    assert record.system_tokens == 0


def test_bad_budget_flag_is_recorded_as_false(make_span: MakeSpan) -> None:
    """A truncation flag that is not a bool is false on a valid line, never null."""
    attrs = chat_attributes(**{"token_usage.budget.truncation_occurred": "yes"})
    line = extract_line(make_span(attrs))
    assert line is not None
    assert json.loads(encode_lines([line]))["truncation_occurred"] is False


def test_bad_value_falls_through_to_the_next_producer_name(make_span: MakeSpan) -> None:
    """When the first name holds garbage, a valid older name for the field is used."""
    attrs = chat_attributes()
    attrs.update({"gen_ai.usage.output_tokens": "lots", "gen_ai.usage.completion_tokens": 42})
    record = extract_record(make_span(attrs))
    assert record is not None
    assert record.output_tokens == 42


def test_integral_floats_and_digit_strings_are_counts(make_span: MakeSpan) -> None:
    """300.0 (JavaScript producers) and "300" are read as 300."""
    for value in (300.0, "300"):
        record = extract_record(make_span(chat_attributes(**{"gen_ai.usage.output_tokens": value})))
        assert record is not None
        assert record.output_tokens == 300


def test_missing_names_use_fallbacks(make_span: MakeSpan) -> None:
    """No session -> the fallback session; no model or provider -> "unknown"."""
    span = make_span({"gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": 1})
    line = extract_line(span, fallback_session="orphans")
    assert line is not None
    assert (line.session_id, line.model, line.provider) == (
        "orphans",
        "unknown",
        "unknown",
    )


def test_seed_format_lines_are_exactly_the_twenty_fields(make_span: MakeSpan) -> None:
    """extended=False leaves every extension field unset, so the line has the Rust fields."""
    line = extract_line(make_span(chat_attributes()), extended=False)
    assert line is not None
    assert list(json.loads(encode_lines([line]))) == list(SEED_FIELDS)


# names of more producers (issue 10, item 5)

_PYDANTIC_AI_OPENAI: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.cache_read.input_tokens": 40,
    "gen_ai.usage.cache_creation.input_tokens": 7,
    "gen_ai.usage.output_tokens": 50,
    "gen_ai.usage.details.reasoning_tokens": 20,
    "gen_ai.usage.details.cache_read_tokens": 40,
}
_PYDANTIC_AI_ANTHROPIC: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-x",
    "gen_ai.usage.input_tokens": 66,
    "gen_ai.usage.cache_read.input_tokens": 22,
    "gen_ai.usage.cache_creation.input_tokens": 33,
    "gen_ai.usage.output_tokens": 44,
    "gen_ai.usage.details.thinking_tokens": 5,
    "gen_ai.usage.details.ephemeral_1h_input_tokens": 20,
}
_LOGFIRE_RAW_CHAT = json.dumps(
    {
        "completion_tokens": 50,
        "prompt_tokens": 100,
        "completion_tokens_details": {"reasoning_tokens": 20},
        "prompt_tokens_details": {"cache_write_tokens": 7, "cached_tokens": 40},
    }
)
_LOGFIRE_RAW_ANTHROPIC = json.dumps(
    {
        "cache_creation": {"ephemeral_1h_input_tokens": 20, "ephemeral_5m_input_tokens": 13},
        "cache_creation_input_tokens": 33,
        "cache_read_input_tokens": 22,
        "input_tokens": 11,
        "output_tokens": 44,
        "output_tokens_details": {"thinking_tokens": 5},
    }
)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # pydantic-ai, OpenAI: reasoning only under gen_ai.usage.details.*
        (_PYDANTIC_AI_OPENAI, (53, 40, 7, 50, 20, None, None)),
        # pydantic-ai, Anthropic: thinking and the 1h part under details; 5m is the rest
        (_PYDANTIC_AI_ANTHROPIC, (11, 22, 33, 44, 5, 13, 20)),
        # logfire: counts it leaves off (zero) or never writes as attributes are in the raw JSON
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.usage.raw": _LOGFIRE_RAW_CHAT,
            },
            (53, 40, 7, 50, 20, None, None),
        ),
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 66,
                "gen_ai.usage.output_tokens": 44,
                "gen_ai.usage.raw": _LOGFIRE_RAW_ANTHROPIC,
            },
            (11, 22, 33, 44, 5, 13, 20),
        ),
        # an attribute wins over the raw JSON
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.cache_read.input_tokens": 30,
                "gen_ai.usage.raw": _LOGFIRE_RAW_CHAT,
            },
            (63, 30, 7, 0, 20, None, None),
        ),
        # older OpenLLMetry and openlit's detail names
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.prompt_tokens": 100,
                "gen_ai.usage.prompt_tokens_details.cached_tokens": 40,
                "gen_ai.usage.prompt_tokens_details.cache_creation_tokens": 7,
                "gen_ai.usage.completion_tokens": 50,
                "llm.usage.reasoning_tokens": 20,
            },
            (53, 40, 7, 50, 20, None, None),
        ),
        # the newest conventions' per-modality parts, when no total is given
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.text.input_tokens": 90,
                "gen_ai.usage.audio.input_tokens": 10,
                "gen_ai.usage.text.output_tokens": 48,
                "gen_ai.usage.audio.output_tokens": 2,
                "gen_ai.usage.cache_read.input_tokens": 40,
            },
            (60, 40, 0, 50, 0, None, None),
        ),
        # ... and ignored beside a total
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.text.input_tokens": 90,
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.usage.text.output_tokens": 48,
            },
            (120, 0, 0, 50, 0, None, None),
        ),
    ],
    ids=[
        "pydantic-ai-openai",
        "pydantic-ai-anthropic",
        "logfire-openai",
        "logfire-anthropic",
        "attribute-over-raw",
        "openllmetry-openlit-details",
        "modality-parts",
        "modality-parts-beside-total",
    ],
)
def test_every_producers_usage_names_are_read(
    make_span: MakeSpan,
    attributes: dict[str, AttributeValue],
    expected: tuple[int, int, int, int, int, int | None, int | None],
) -> None:
    """(fresh input, cache read, cache write, output, thinking, 5m, 1h) of spans that
    carry their counts under pydantic-ai's, logfire's, older OpenLLMetry's, openlit's or
    the newest conventions' names."""
    line = extract_line(make_span(attributes))
    assert line is not None
    assert (
        line.input_tokens,
        line.cache_read_input_tokens,
        line.cache_creation_input_tokens,
        line.output_tokens,
        line.thinking_tokens,
        line.cache_creation_5m_input_tokens,
        line.cache_creation_1h_input_tokens,
    ) == expected


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '{"completion_tokens_details": {"reasoning_tokens": -3}}', "x" * 70_000],
)
def test_bad_raw_usage_is_a_warning_not_a_lost_line(
    make_span: MakeSpan, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    """A gen_ai.usage.raw that is not usage JSON (or is too long to parse) is ignored with
    a throttled warning; the line keeps the attributes' counts."""
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.raw": raw,
    }
    with caplog.at_level(logging.WARNING, "otel_token_usage.export._extract"):
        line = extract_line(make_span(attrs))
    assert line is not None
    assert (line.input_tokens, line.output_tokens, line.thinking_tokens) == (100, 50, 0)
    assert "gen_ai.usage.raw" in caplog.text
