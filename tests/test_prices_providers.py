"""Prices for the providers of issue 13, from genai-prices' bundled data: a line's
registered provider name and model find the provider's own price, and the cache-read,
5m/1h cache-write prices apply where the provider has them. Thinking has no price of
its own at any of them: it is billed as output, which is where the lines count it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import TokenCounts

DAY = "2026-06-15"


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


@pytest.mark.parametrize(
    ("provider", "model", "cache_read"),
    [
        ("gcp.gemini", "gemini-2.5-flash", True),
        ("gcp.vertex_ai", "gemini-2.5-pro", True),
        ("gemini", "gemini-2.5-flash", True),  # the deprecated value upstream writes
        ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("aws.bedrock", "amazon.nova-pro-v1:0", True),
        ("deepseek", "deepseek-chat", True),
        ("deepseek", "deepseek-reasoner", True),
        ("x_ai", "grok-4", True),
        ("mistral_ai", "mistral-medium-latest", True),
        ("mistral_ai", "mistral-large-latest", False),  # no cached price: reads at input
        ("groq", "openai/gpt-oss-120b", True),
        ("groq", "llama-3.3-70b-versatile", False),
        ("azure.ai.openai", "gpt-4o", True),
    ],
)
def test_each_provider_is_priced_with_its_cache_read_price(
    book: PriceBook, provider: str, model: str, cache_read: bool
) -> None:
    price = book.price(provider, model, DAY)
    assert price is not None, (provider, model)
    rates = price.tiers[0]
    assert rates.input > 0 and rates.output > 0
    assert (rates.cache_read < rates.input) is cache_read


def test_bedrock_cache_writes_are_priced_by_ttl(book: PriceBook) -> None:
    """Claude on Bedrock: 1h writes cost more than 5m writes, which cost more than
    input; a line's 5m/1h split is billed that way. The inference-profile prefix picks
    the regional (us.) or global price."""
    regional = book.price("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", DAY)
    world = book.price("aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", DAY)
    assert regional is not None and world is not None
    rates = regional.tiers[0]
    assert rates.cache_read < rates.input < rates.cache_write_5m < rates.cache_write_1h
    assert world.tiers[0].input < rates.input
    tokens = TokenCounts(  # 600k 5m + 400k 1h
        input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
        cache_creation_1h_input_tokens=400_000,
    )
    expected = (
        rates.input + rates.cache_write_5m * Decimal("0.6") + rates.cache_write_1h * Decimal("0.4")
    )
    assert regional.cost(0, tokens, 1) == expected


@pytest.mark.parametrize(
    "model",
    [
        "models/gemini-2.5-flash",
        "publishers/google/models/gemini-2.5-flash",
        "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
    ],
)
def test_gemini_resource_paths_are_priced_as_the_model(book: PriceBook, model: str) -> None:
    """genai-prices knows `gemini-2.5-flash`, not its resource paths."""
    price = book.price("gcp.vertex_ai", model, DAY)
    assert price is not None and price.model_id == "gemini-2.5-flash"


def test_gemini_long_prompts_take_the_higher_tier(book: PriceBook) -> None:
    """gemini-2.5-pro costs more above 200k prompt tokens."""
    price = book.price("gcp.gemini", "gemini-2.5-pro", DAY)
    assert price is not None and price.thresholds == (200_000,)
    assert price.tiers[1].input > price.tiers[0].input
