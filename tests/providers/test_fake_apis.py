"""The fake's Gemini, Bedrock and OpenAI-compatible APIs on their own, driven by the real
SDKs without any instrumentation: caching on the injectable clock, the providers' usage
shapes, and the refusals the real APIs make."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from google import genai
from google.genai import types as genai_types

from otel_token_usage.testing import FakeClock, FakeProvider

from .helpers import bedrock

SYSTEM = "You are a careful assistant for the tests. Answer briefly and kindly."
PROMPT = "Tell me about prompt caches and how long they last."


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Any:
    with FakeProvider(clock=clock, gemini_cache_ttl=120.0) as provider:
        yield provider


def test_gemini_implicit_cache_expires_on_the_fake_clock(
    fake: FakeProvider, clock: FakeClock
) -> None:
    """The prompt is read from the cache within `gemini_cache_ttl`, and not after."""
    client = genai.Client(
        api_key="test", http_options=genai_types.HttpOptions(base_url=fake.base_url)
    )
    config = genai_types.GenerateContentConfig(system_instruction=SYSTEM)

    def cached() -> int | None:
        response = client.models.generate_content(
            model="gemini-2.5-flash", contents=PROMPT, config=config
        )
        assert response.usage_metadata is not None
        return response.usage_metadata.cached_content_token_count

    assert cached() is None  # the API leaves zero counts out
    clock.advance(119)
    assert cached() == (fake.responses[0].cache or 0).total  # type: ignore[union-attr]
    clock.advance(121)
    assert cached() is None


def test_bedrock_cache_points_follow_their_ttl(fake: FakeProvider, clock: FakeClock) -> None:
    """A 1h system cache point outlives a 5m one on the turn: after 10 minutes only the
    system prompt is read."""
    client = bedrock(fake.base_url)
    request = {
        "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "system": [{"text": SYSTEM}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [
            {"role": "user", "content": [{"text": PROMPT}, {"cachePoint": {"type": "default"}}]}
        ],
    }
    first = client.converse(**request)["usage"]
    assert first["inputTokens"] == 0 and first["cacheReadInputTokens"] == 0
    assert {d["ttl"] for d in first["cacheDetails"]} == {"5m", "1h"}
    clock.advance(600)
    later = client.converse(**request)["usage"]
    system_tokens = len(SYSTEM.split())
    assert later["cacheReadInputTokens"] == system_tokens
    assert later["cacheDetails"] == [{"ttl": "5m", "inputTokens": len(PROMPT.split())}]


def test_bedrock_refuses_what_bedrock_refuses(fake: FakeProvider) -> None:
    """A 1h cache point after a 5m one, and an empty conversation: ValidationException."""
    client = bedrock(fake.base_url)
    bad = [
        {"role": "user", "content": [{"text": "a"}, {"cachePoint": {"type": "default"}}]},
        {"role": "assistant", "content": [{"text": "b"}]},
        {
            "role": "user",
            "content": [{"text": "c"}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        },
    ]
    for messages in (bad, []):
        with pytest.raises(client.exceptions.ValidationException):
            client.converse(modelId="m", messages=messages)
    assert [sent.status for sent in fake.responses] == [400, 400]


def test_openai_compatible_hosts_answer_in_their_shape(fake: FakeProvider) -> None:
    """Through the fake as proxy: DeepSeek's hit/miss counts and reasoning_content, xAI's
    reasoning outside completion_tokens, Groq in OpenAI's shape; each named in the
    fake's records."""
    answers: dict[str, Any] = {}
    for host, model in (
        ("api.deepseek.com", "deepseek-reasoner"),
        ("api.x.ai/v1", "grok-4"),
        ("api.groq.com/openai/v1", "llama-3.3-70b-versatile"),
    ):
        with openai.OpenAI(
            base_url=f"http://{host}",
            api_key="test",
            http_client=openai.DefaultHttpxClient(proxy=fake.proxy_url),
        ) as client:
            messages: Any = [{"role": "user", "content": PROMPT}]
            answers[host] = client.chat.completions.create(model=model, messages=messages)
    deepseek = answers["api.deepseek.com"]
    usage = deepseek.usage.model_dump()
    assert (
        usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
        == (usage["prompt_tokens"])
    )
    assert deepseek.choices[0].message.model_extra["reasoning_content"]
    xai = answers["api.x.ai/v1"].usage
    reasoning = xai.completion_tokens_details.reasoning_tokens
    assert reasoning > 0
    assert xai.total_tokens == xai.prompt_tokens + xai.completion_tokens + reasoning
    assert [sent.provider for sent in fake.responses] == ["deepseek", "x_ai", "groq"]
    assert fake.requests[0].path == "/chat/completions"
    assert fake.requests[0].headers["host"] == "api.deepseek.com"
