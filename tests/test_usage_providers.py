"""normalize_usage for Gemini, Bedrock and the OpenAI-compatible providers (issue 13):
each usage shape, as the real SDK object and as the API's dict, becomes the conventions'
numbers; a shape it does not know is a throttled warning naming its fields, and through
`llm_call` it writes no line of zeros."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from google.genai import types as genai_types
from openai.types import CompletionUsage
from openai.types.responses import ResponseUsage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_token_usage import TokenUsageSpanExporter, llm_call
from otel_token_usage.instrumentation.usage import Usage, normalize_usage
from otel_token_usage.record import LOG_FILE_NAME
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION

GEMINI = {
    "promptTokenCount": 120,
    "cachedContentTokenCount": 100,
    "candidatesTokenCount": 7,
    "thoughtsTokenCount": 30,
    "toolUsePromptTokenCount": 5,
    "totalTokenCount": 162,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}],
}
BEDROCK = {
    "inputTokens": 12,
    "outputTokens": 15,
    "totalTokens": 2027,
    "cacheReadInputTokens": 1500,
    "cacheWriteInputTokens": 500,
    "cacheDetails": [{"ttl": "1h", "inputTokens": 300}, {"ttl": "5m", "inputTokens": 200}],
}
DEEPSEEK = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "prompt_cache_hit_tokens": 1024,
    "prompt_cache_miss_tokens": 176,
    "completion_tokens_details": {"reasoning_tokens": 200},
}
XAI = {
    "prompt_tokens": 10120,
    "completion_tokens": 1499,
    "total_tokens": 14428,
    "prompt_tokens_details": {"cached_tokens": 128},
    "completion_tokens_details": {"reasoning_tokens": 2809},
}


def test_gemini_usage_metadata_object_and_wire_dict() -> None:
    """Inclusive input = prompt (cached included) + tool-use prompt; output = candidates
    + thoughts; thinking = thoughts; no cache write. The SDK object and the camelCase
    JSON give the same."""
    expected = Usage(125, 37, 100, 0, None, None, 30)
    metadata = genai_types.GenerateContentResponseUsageMetadata.model_validate(GEMINI)
    assert metadata.prompt_token_count == 120  # the SDK parsed the wire names
    assert normalize_usage(metadata) == expected
    assert normalize_usage(GEMINI) == expected
    assert normalize_usage(metadata.model_dump(exclude_none=True)) == expected


def test_gemini_first_stream_chunk_has_input_only() -> None:
    """A stream's first chunk carries only the prompt counts: output 0 so far."""
    first = {"promptTokenCount": 120, "cachedContentTokenCount": 100, "totalTokenCount": 120}
    assert normalize_usage(first) == Usage(120, 0, 100, 0, None, None, None)


def test_bedrock_usage_with_the_ttl_split() -> None:
    """inputTokens is fresh input: inclusive = input + read + write; cacheDetails gives
    the 5m/1h split (listed 1h first, as Bedrock sorts them)."""
    assert normalize_usage(BEDROCK) == Usage(2012, 15, 1500, 500, 200, 300, None)
    plain = {"inputTokens": 40, "outputTokens": 9, "totalTokens": 49}
    assert normalize_usage(plain) == Usage(40, 9, 0, 0, None, None, None)


def test_bedrock_ttl_of_another_length_counts_in_the_total_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TTL that is neither 5m nor 1h stays in the cache write, with a warning."""
    usage = {**BEDROCK, "cacheDetails": [{"ttl": "24h", "inputTokens": 500}]}
    with caplog.at_level(logging.WARNING, "otel_token_usage"):
        assert normalize_usage(usage) == Usage(2012, 15, 1500, 500, 0, 0, None)
    assert "'24h'" in caplog.text


def test_deepseek_cache_hits_are_the_reads() -> None:
    """prompt_tokens = hit + miss is inclusive; the hits are the cache reads; reasoning
    is inside completion_tokens (total = prompt + completion)."""
    expected = Usage(1200, 300, 1024, 0, None, None, 200)
    assert normalize_usage(CompletionUsage.model_validate(DEEPSEEK)) == expected
    assert normalize_usage(DEEPSEEK, "deepseek") == expected
    older = {k: v for k, v in DEEPSEEK.items() if k != "prompt_tokens_details"}
    assert normalize_usage(older) == expected  # hits without cached_tokens
    hit_miss_only = {"prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}
    assert normalize_usage(hit_miss_only) == Usage(100, 0, 64, 0)


def test_xai_reasoning_is_added_to_the_output() -> None:
    """xAI's completion_tokens exclude reasoning (total = prompt + completion +
    reasoning): output is both, by provider name or by the usage's own total."""
    expected = Usage(10120, 1499 + 2809, 128, 0, None, None, 2809)
    assert normalize_usage(CompletionUsage.model_validate(XAI), "x_ai") == expected
    assert normalize_usage(XAI) == expected  # total_tokens shows it
    no_total = {k: v for k, v in XAI.items() if k != "total_tokens"}
    assert normalize_usage(no_total, "xai") == expected
    assert normalize_usage(no_total, "openai").output_tokens == 1499  # type: ignore[union-attr]


@pytest.mark.parametrize("provider", ["openai", "azure.ai.openai", "mistral_ai", "groq"])
def test_openai_shaped_providers(provider: str) -> None:
    """Azure OpenAI, Mistral and Groq answer in OpenAI's shape: reasoning is inside
    completion_tokens, cached_tokens are the reads."""
    usage = {
        "prompt_tokens": 900,
        "completion_tokens": 60,
        "total_tokens": 960,
        "prompt_tokens_details": {"cached_tokens": 512},
        "completion_tokens_details": {"reasoning_tokens": 20},
        "queue_time": 0.07,  # Groq's timing floats are ignored
    }
    assert normalize_usage(usage, provider) == Usage(900, 60, 512, 0, None, None, 20)


def test_openai_responses_30m_and_12h_cache_writes_stay_on_the_span() -> None:
    """The Responses TTL split fits neither 5m nor 1h: the total is the cache write, the
    split goes to token_usage.cache_write.30m/12h and neither 5m nor 1h is set."""
    usage = ResponseUsage.model_validate(
        {
            "input_tokens": 5000,
            "input_tokens_details": {
                "cached_tokens": 2000,
                "cache_write_tokens": 1200,
                "cache_write_tokens_details": {"ttl_30m_tokens": 1000, "ttl_12h_tokens": 200},
            },
            "output_tokens": 80,
            "output_tokens_details": {"reasoning_tokens": 30},
            "total_tokens": 5080,
        }
    )
    normalized = normalize_usage(usage)
    assert normalized == Usage(5000, 80, 2000, 1200, None, None, 30, 1000, 200)
    attrs = normalized.attributes()
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 1200
    assert attrs["token_usage.cache_write.30m.input_tokens"] == 1000
    assert attrs["token_usage.cache_write.12h.input_tokens"] == 200
    assert "token_usage.cache_write.5m.input_tokens" not in attrs
    assert "token_usage.cache_write.1h.input_tokens" not in attrs


def test_an_unknown_shape_is_a_throttled_warning_naming_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No known field: None, and one warning per shape per minute naming the fields."""
    odd = {"tokens_in": 10, "tokens_out": 2}
    with caplog.at_level(logging.WARNING, "otel_token_usage"):
        assert normalize_usage(odd) is None
        assert normalize_usage(odd) is None
    warnings = [r.getMessage() for r in caplog.records if "no known shape" in r.getMessage()]
    assert len(warnings) == 1
    assert "tokens_in, tokens_out" in warnings[0]


def _one_call_log(tmp_path: Path, usage: object, response: object = None) -> list[str]:
    spans = InMemorySpanExporter()
    exporter = TokenUsageSpanExporter(tmp_path)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with llm_call(model="m", provider="p", tracer_provider=provider) as call:
        if response is not None:
            call.record(response)
        else:
            call.record_usage(usage)
    provider.shutdown()
    log = tmp_path / DEFAULT_FALLBACK_SESSION / LOG_FILE_NAME
    return log.read_text().splitlines() if log.exists() else []


def test_llm_call_writes_gemini_and_bedrock_usage_exactly(tmp_path: Path) -> None:
    """`record_usage` with a Gemini usage_metadata and `record` with a Bedrock Converse
    response dict give their exact lines (they used to be read as Anthropic usage and
    written as zeros)."""
    metadata = genai_types.GenerateContentResponseUsageMetadata.model_validate(GEMINI)
    (gemini,) = map(json.loads, _one_call_log(tmp_path / "g", metadata))
    assert (gemini["input_tokens"], gemini["cache_read_input_tokens"]) == (25, 100)
    assert (gemini["output_tokens"], gemini["thinking_tokens"]) == (37, 30)

    converse = {"usage": BEDROCK, "ResponseMetadata": {"RequestId": "req-1"}, "output": {}}
    (bedrock,) = map(json.loads, _one_call_log(tmp_path / "b", None, converse))
    assert bedrock["input_tokens"] == 12
    assert bedrock["cache_read_input_tokens"] == 1500
    assert bedrock["cache_creation_input_tokens"] == 500
    assert bedrock["cache_creation_5m_input_tokens"] == 200
    assert bedrock["cache_creation_1h_input_tokens"] == 300
    assert bedrock["output_tokens"] == 15


def test_llm_call_writes_no_zero_line_for_an_unknown_shape(tmp_path: Path) -> None:
    """An unrecognised usage records nothing: no line of zeros in the session log."""
    assert _one_call_log(tmp_path, {"tokens_in": 10}) == []
