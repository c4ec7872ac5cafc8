"""Canaries: each private name an adapter module (`*_compat.py`) reads still exists in the
installed libraries. CI installs their newest releases, so a release that drops one fails
here, by name, before users meet the adapter's fallback."""

from __future__ import annotations

import subprocess
import sys

import anthropic
from opentelemetry.trace import NoOpTracerProvider, ProxyTracer, get_tracer


def test_anthropic_private_names_exist() -> None:
    from otel_token_usage.instrumentation.anthropic import _anthropic_compat as compat

    client = anthropic.Anthropic(api_key="canary", base_url="http://127.0.0.1:9")
    assert client.messages._client is client  # Messages._client
    assert compat.client_of(client.messages) is client
    assert "_tracer" in dir(type(client))  # BaseClient._tracer (a property)
    assert client._gen_ai_provider_name == "anthropic"
    assert anthropic.AnthropicBedrock._gen_ai_provider_name == "aws.bedrock"
    assert anthropic.AnthropicVertex._gen_ai_provider_name == "gcp.vertex_ai"
    assert compat.platform_provider(client.messages) == "anthropic"
    proxy = get_tracer("canary")
    assert isinstance(proxy, ProxyTracer)
    assert hasattr(proxy, "_tracer")  # ProxyTracer._tracer


def test_anthropic_native_tracing_is_detected_through_the_adapter() -> None:
    from otel_token_usage.instrumentation.anthropic._anthropic_compat import (
        native_span_expected,
    )

    off = anthropic.Anthropic(api_key="c", base_url="http://127.0.0.1:9", open_telemetry=False)
    assert native_span_expected(off.messages) is False
    on = anthropic.Anthropic(
        api_key="c",
        base_url="http://127.0.0.1:9",
        open_telemetry={"tracer_provider": NoOpTracerProvider()},
    )
    assert native_span_expected(on.messages) is False  # a no-op provider traces nothing


def test_openai_private_names_exist() -> None:
    from openai.types.chat import ChatCompletionChunk

    from otel_token_usage.instrumentation.openai._openai_compat import (
        legacy_response_type,
        unset_usage,
    )

    assert legacy_response_type() is not None  # openai._legacy_response.LegacyAPIResponse
    chunk = ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [],
            "usage": None,
        }
    )
    assert "usage" in chunk.model_fields_set
    unset_usage(chunk, None)
    assert "usage" not in chunk.model_fields_set
    assert "usage" not in chunk.model_dump(exclude_unset=True)


def test_opentelemetry_proxy_meter_provider_is_recognised() -> None:
    """Before `set_meter_provider`, the global provider is the API's proxy; the adapter
    must recognise it (in a fresh interpreter, where no provider is set)."""
    code = (
        "from opentelemetry.metrics import get_meter_provider\n"
        "from otel_token_usage.export._otel_compat import "
        "PROXY_METER_PROVIDER_TYPE, no_meter_provider_yet\n"
        "assert PROXY_METER_PROVIDER_TYPE is not None\n"
        "assert no_meter_provider_yet(get_meter_provider())\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "assert not no_meter_provider_yet(MeterProvider())\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_openai_resource_client_is_reachable() -> None:
    """The OpenAI instrumentor names the provider from `resource._client.base_url`."""
    import openai

    from otel_token_usage.instrumentation.openai._openai_compat import client_of
    from otel_token_usage.instrumentation.openai._provider import provider_of

    client = openai.OpenAI(api_key="canary", base_url="https://api.deepseek.com")
    assert client_of(client.chat.completions) is client  # SyncAPIResource._client
    assert provider_of(client.chat.completions) == "deepseek"


def test_google_genai_per_request_methods_exist() -> None:
    """The Gemini instrumentor wraps the methods that send one request each."""
    from google.genai import models

    from otel_token_usage.instrumentation.google_genai._google_genai_compat import (
        PER_REQUEST,
        targets,
    )

    for owner, name, _ in PER_REQUEST:
        assert callable(getattr(getattr(models, owner), name)), f"{owner}.{name}"
    assert targets() == PER_REQUEST
