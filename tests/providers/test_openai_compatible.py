"""OpenAIInstrumentor with the OpenAI-compatible providers: a real `openai` client whose
base_url is the provider's host (DeepSeek, xAI, Groq, Mistral, Azure OpenAI) and whose
proxy is the fake, which answers in that provider's shape. The span is named after the
provider and each line is exactly what the fake billed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Literal

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider

from otel_token_usage import semconv as a
from otel_token_usage.instrumentation.openai import OpenAIInstrumentor
from otel_token_usage.instrumentation.openai._provider import provider_for_host, provider_of
from otel_token_usage.testing import FakeProvider

from .helpers import Out, attributes, check_line

Mode = Literal["sync", "async"]

# provider -> (base_url, model); the fake is the HTTP proxy, so nothing leaves 127.0.0.1.
PROVIDERS: dict[str, tuple[str, str]] = {
    "deepseek": ("http://api.deepseek.com", "deepseek-reasoner"),
    "x_ai": ("http://api.x.ai/v1", "grok-4"),
    "groq": ("http://api.groq.com/openai/v1", "llama-3.3-70b-versatile"),
    "mistral_ai": ("http://api.mistral.ai/v1", "mistral-large-latest"),
    "azure.ai.openai": ("http://my-resource.openai.azure.com", "gpt-4o"),
}
MESSAGES = [
    {"role": "system", "content": "You are a careful assistant for the tests, brief and kind."},
    {"role": "user", "content": "Tell me about prompt caches and how long they last."},
]


@pytest.fixture
def instrumented(pipeline: TracerProvider) -> Iterator[None]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    yield
    instrumentor.uninstrument()


def client_options(fake: FakeProvider, provider: str, mode: Mode) -> dict[str, Any]:
    proxy = (openai.DefaultHttpxClient if mode == "sync" else openai.DefaultAsyncHttpxClient)(
        proxy=fake.proxy_url
    )
    options: dict[str, Any] = {"api_key": "test", "max_retries": 0, "http_client": proxy}
    base_url = PROVIDERS[provider][0]
    if provider == "azure.ai.openai":
        return {**options, "azure_endpoint": base_url, "api_version": "2024-10-21"}
    return {**options, "base_url": base_url}


def chat(mode: Mode, fake: FakeProvider, provider: str, *, stream: bool, calls: int) -> None:
    """`calls` chat completions to `provider` on one client (read to the end if streamed)."""
    model = PROVIDERS[provider][1]
    azure = provider == "azure.ai.openai"
    options = client_options(fake, provider, mode)
    if mode == "sync":
        client: Any = (openai.AzureOpenAI if azure else openai.OpenAI)(**options)
        with client:
            for _ in range(calls):
                result = client.chat.completions.create(
                    model=model, messages=MESSAGES, stream=stream
                )
                if stream:
                    list(result)
        return

    async def main() -> None:
        aclient: Any = (openai.AsyncAzureOpenAI if azure else openai.AsyncOpenAI)(**options)
        async with aclient:
            for _ in range(calls):
                result = await aclient.chat.completions.create(
                    model=model, messages=MESSAGES, stream=stream
                )
                if stream:
                    [chunk async for chunk in result]

    asyncio.run(main())


# Every provider sync, JSON and streamed; async for the two with shapes of their own
# (the async path is the OpenAI instrumentor's, tested in full in test_instrument_openai).
CASES = [
    pytest.param(provider, mode, stream, id=f"{provider}-{mode}-{'stream' if stream else 'json'}")
    for provider in PROVIDERS
    for mode in ("sync", "async")
    for stream in (False, True)
    if mode == "sync" or provider in ("deepseek", "x_ai")
]


@pytest.mark.parametrize(("provider", "mode", "stream"), CASES)
@pytest.mark.usefixtures("instrumented")
def test_provider_is_named_from_the_base_url_and_the_line_is_as_billed(
    provider: str, mode: Mode, stream: bool, fake: FakeProvider, out: Out
) -> None:
    """Two calls (the second reads the cached prefix): spans named after the provider,
    lines exactly as billed in the provider's own usage shape (DeepSeek's cache hits,
    xAI's reasoning outside completion_tokens)."""
    chat(mode, fake, provider, stream=stream, calls=2)
    spans, lines = out.spans(), out.lines()
    assert len(spans) == len(lines) == 2
    for span, line, sent in zip(spans, lines, fake.responses, strict=True):
        assert sent.provider == provider
        assert attributes(span)[a.GEN_AI_PROVIDER_NAME] == provider
        check_line(line, sent)
    assert lines[1]["cache_read_input_tokens"] > 0
    usage = fake.responses[1].usage or {}
    if provider == "deepseek":
        assert lines[1]["input_tokens"] == usage["prompt_cache_miss_tokens"]
    if provider == "x_ai":
        reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        assert reasoning > 0
        assert lines[1]["output_tokens"] == usage["completion_tokens"] + reasoning


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("api.openai.com", "openai"),
        ("api.deepseek.com", "deepseek"),
        ("API.X.AI", "x_ai"),
        ("api.groq.com", "groq"),
        ("api.mistral.ai", "mistral_ai"),
        ("my-resource.openai.azure.com", "azure.ai.openai"),
        ("my-resource.cognitiveservices.azure.com", "azure.ai.openai"),
        ("generativelanguage.googleapis.com", "gcp.gemini"),
        ("127.0.0.1", None),
        ("openai.azure.com.example.org", None),
    ],
)
def test_hosts(host: str, provider: str | None) -> None:
    """The well-known hosts and Azure resource hosts; anything else is not named."""
    assert provider_for_host(host) == provider


def test_other_hosts_and_azure_clients(fake: FakeProvider) -> None:
    """A host not listed is `openai`; an AzureOpenAI client is Azure whatever its host."""
    local = openai.OpenAI(base_url=fake.openai_base_url, api_key="test")
    assert provider_of(local.chat.completions) == "openai"
    gateway = openai.AzureOpenAI(
        azure_endpoint="https://llm-gateway.example.org", api_key="test", api_version="2024-10-21"
    )
    assert provider_of(gateway.chat.completions) == "azure.ai.openai"
