"""normalize_usage: each provider's usage object becomes the conventions' numbers."""

from __future__ import annotations

from anthropic.types import CacheCreation
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails
from openai.types.responses import ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from otel_token_usage.instrumentation.usage import Usage, normalize_usage


def test_anthropic_input_is_made_inclusive_and_the_ttl_split_kept() -> None:
    """Anthropic's exclusive input plus cache read and write is the inclusive input."""
    usage = AnthropicUsage(
        input_tokens=800,
        cache_read_input_tokens=12_000,
        cache_creation_input_tokens=1_500,
        cache_creation=CacheCreation(
            ephemeral_5m_input_tokens=500, ephemeral_1h_input_tokens=1_000
        ),
        output_tokens=300,
    )
    assert normalize_usage(usage) == Usage(14_300, 300, 12_000, 1_500, 500, 1_000, None)


def test_openai_chat_usage_is_already_inclusive() -> None:
    """prompt_tokens include cached reads and cache writes; reasoning is kept apart."""
    usage = CompletionUsage(
        prompt_tokens=5_000,
        completion_tokens=90,
        total_tokens=5_090,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=3_072, cache_write_tokens=1_024),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=40),
    )
    assert normalize_usage(usage) == Usage(5_000, 90, 3_072, 1_024, None, None, 40)


def test_openai_responses_usage() -> None:
    """Responses input_tokens are inclusive; details give cache reads, writes, reasoning."""
    usage = ResponseUsage(
        input_tokens=2_000,
        input_tokens_details=InputTokensDetails(cached_tokens=1_024, cache_write_tokens=256),
        output_tokens=50,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=20),
        total_tokens=2_050,
    )
    assert normalize_usage(usage) == Usage(2_000, 50, 1_024, 256, None, None, 20)


def test_mappings_and_garbage_never_raise() -> None:
    """Plain mappings work; negative or non-integer values count as not reported; a
    usage of no known shape (or None) gives None, never a Usage of zeros."""
    assert normalize_usage({"input_tokens": 10, "output_tokens": 2}) == Usage(10, 2)
    assert normalize_usage({"input_tokens": -1, "output_tokens": "x"}) == Usage()
    assert normalize_usage(None) is None
    assert normalize_usage(object()) is None


def test_attributes_write_the_current_and_the_older_cache_write_name() -> None:
    """Backends that still read cache_creation.input_tokens get the same number."""
    attrs = Usage(100, 5, 10, 20, 20, None, None).attributes()
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 20
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 20
    assert attrs["token_usage.cache_write.5m.input_tokens"] == 20
    assert "token_usage.cache_write.1h.input_tokens" not in attrs
    assert "gen_ai.usage.reasoning.output_tokens" not in attrs
