"""Spans of the upstream OpenTelemetry instrumentations for these SDKs, read by our
exporter (issue 13, item 5): `opentelemetry-instrumentation-google-genai` and
`opentelemetry-instrumentation-botocore`, each on its own against the fake. Each test
skips cleanly when the instrumentation is not installed or cannot instrument the SDK.

What these producers put on their spans is read exactly; where they drop part of the
usage the line cannot have it, and the tests pin those gaps (the README lists them):
google-genai's ignores `tool_use_prompt_token_count`, botocore's the 5m/1h split."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import types as genai_types
from opentelemetry.sdk.trace import TracerProvider

from otel_token_usage.testing import FakeProvider

from .helpers import Out, attributes, bedrock, billed, check_line

SYSTEM = "You are a careful assistant. Answer in one short sentence, and be kind."
PROMPT = "Tell me about prompt caches and how long they last."
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
EMIT_EVENT = "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"


@pytest.fixture
def upstream_gemini(pipeline: TracerProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = pytest.importorskip("opentelemetry.instrumentation.google_genai")
    # It sets this variable process-wide when instrumenting: monkeypatch restores it.
    monkeypatch.setenv(EMIT_EVENT, os.environ.get(EMIT_EVENT, "false"))
    instrumentor = module.GoogleGenAiSdkInstrumentor()
    # Its declared range stops below google-genai 3; the wrapped methods are unchanged.
    instrumentor.instrument(tracer_provider=pipeline, skip_dep_check=True)
    if not instrumentor.is_instrumented_by_opentelemetry:
        pytest.skip("opentelemetry-instrumentation-google-genai did not instrument")
    yield
    instrumentor.uninstrument()


@pytest.fixture
def upstream_botocore(pipeline: TracerProvider) -> Iterator[None]:
    module = pytest.importorskip("opentelemetry.instrumentation.botocore")
    instrumentor = module.BotocoreInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    if not instrumentor.is_instrumented_by_opentelemetry:
        pytest.skip("opentelemetry-instrumentation-botocore did not instrument")
    yield
    instrumentor.uninstrument()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.usefixtures("upstream_gemini")
def test_upstream_google_genai_spans_give_the_billed_line(
    stream: bool, fake: FakeProvider, out: Out
) -> None:
    """Its `gemini` provider value becomes `gcp.gemini`; its input (prompt, cached
    included), output (candidates + thoughts), cache reads and thinking give exactly the
    billed line, JSON and streamed, the second call reading the cache."""
    client = genai.Client(
        api_key="test", http_options=genai_types.HttpOptions(base_url=fake.base_url)
    )
    think = genai_types.ThinkingConfig(thinking_budget=8)
    config = genai_types.GenerateContentConfig(system_instruction=SYSTEM, thinking_config=think)
    for _ in range(2):
        if stream:
            list(
                client.models.generate_content_stream(
                    model="gemini-2.5-flash", contents=PROMPT, config=config
                )
            )
        else:
            client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)
    spans, lines = out.spans(), out.lines()
    assert len(spans) == len(lines) == 2
    assert {attributes(s)["gen_ai.provider.name"] for s in spans} == {"gemini"}
    for line, sent in zip(lines, fake.responses, strict=True):
        check_line(line, sent)
    assert lines[1]["cache_read_input_tokens"] > 0 and lines[1]["thinking_tokens"] > 0


@pytest.mark.usefixtures("upstream_gemini")
def test_upstream_google_genai_drops_tool_use_prompt_tokens(fake: FakeProvider, out: Out) -> None:
    """Pinned gap: with a server-side tool the line lacks the tool-use prompt tokens,
    which that instrumentation does not put on its span."""
    client = genai.Client(
        api_key="test", http_options=genai_types.HttpOptions(base_url=fake.base_url)
    )
    search = genai_types.Tool(google_search=genai_types.GoogleSearch())
    client.models.generate_content(
        model="gemini-2.5-flash",
        contents=PROMPT,
        config=genai_types.GenerateContentConfig(tools=[search]),
    )
    (line,) = out.lines()
    sent = fake.responses[0]
    tool_use = (sent.usage or {})["toolUsePromptTokenCount"]
    assert line["input_tokens"] == billed(sent)["input_tokens"] - tool_use


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse_stream"])
@pytest.mark.usefixtures("upstream_botocore")
def test_upstream_botocore_exclusive_input_is_read_as_fresh(
    stream: bool, fake: FakeProvider, out: Out
) -> None:
    """Its spans put Bedrock's raw inputTokens (fresh input only) in
    gen_ai.usage.input_tokens. With fresh input larger than the cache counts (a long
    uncached turn after a short cached system prompt) the line is still exactly as
    billed: the exporter recognises these spans and does not subtract the cache."""
    client = bedrock(fake.base_url)
    system = [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}]
    turn = " ".join(["Explain prompt caching in detail for the tests."] * 4)
    messages = [{"role": "user", "content": [{"text": turn}]}]
    for _ in range(2):
        request = {"modelId": BEDROCK_MODEL, "system": system, "messages": messages}
        if stream:
            list(client.converse_stream(**request)["stream"])
        else:
            client.converse(**request)
    spans, lines = out.spans(), out.lines()
    assert len(spans) == len(lines) == 2
    for span, line, sent in zip(spans, lines, fake.responses, strict=True):
        usage = sent.usage or {}
        assert attributes(span)["gen_ai.usage.input_tokens"] == usage["inputTokens"]
        assert usage["inputTokens"] > usage["cacheReadInputTokens"] + usage["cacheWriteInputTokens"]
        # Pinned gap: no 5m/1h split on those spans, so the line has none.
        expected = {k: v for k, v in billed(sent).items() if "_5m_" not in k and "_1h_" not in k}
        assert {k: line.get(k) for k in expected} == expected
        assert line.get("cache_creation_5m_input_tokens") is None
    assert lines[1]["cache_read_input_tokens"] > 0
