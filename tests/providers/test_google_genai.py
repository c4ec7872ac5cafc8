"""GoogleGenAIInstrumentor: the real google-genai SDK (Gemini API and Vertex AI, sync and
async, JSON and streamed) against the fake, through a real TracerProvider into the
in-memory exporter and TokenUsageSpanExporter. Each request is checked against what the
fake billed for it: the span's usage and the session-log line."""

from __future__ import annotations

import asyncio
import gc
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, models
from google.genai import types as genai_types
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from otel_token_usage import semconv as a
from otel_token_usage import session
from otel_token_usage.instrumentation.google_genai import GoogleGenAIInstrumentor
from otel_token_usage.testing import FakeProvider
from otel_token_usage.testing._gemini import TOOL_USE_PROMPT_TOKENS

from .helpers import Out, attributes, check_line, usage_attributes

Mode = Literal["sync", "async"]
Backend = Literal["gemini", "vertex"]
MODEL = "gemini-2.5-flash"
ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "You are a careful assistant. Answer in one short sentence, and be kind."
THINK = genai_types.ThinkingConfig(thinking_budget=8, include_thoughts=True)
CONFIG = genai_types.GenerateContentConfig(system_instruction=SYSTEM, thinking_config=THINK)
PROMPT = "Tell me about prompt caches and how long they last."
PROVIDERS = {"gemini": "gcp.gemini", "vertex": "gcp.vertex_ai"}


@pytest.fixture
def instrumented(pipeline: TracerProvider) -> Iterator[None]:
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    yield
    instrumentor.uninstrument()


def client(fake: FakeProvider, backend: Backend = "gemini") -> genai.Client:
    """A real client of the fake; explicit credentials, so nothing looks for real ones."""
    options = genai_types.HttpOptions(base_url=fake.base_url)
    if backend == "vertex":
        return genai.Client(
            vertexai=True,
            project="test-project",
            location="us-central1",
            credentials=google.oauth2.credentials.Credentials(token="test"),  # type: ignore[no-untyped-call]
            http_options=options,
        )
    return genai.Client(api_key="test", http_options=options)


def call(
    mode: Mode, c: genai.Client, *, stream: bool, contents: Any = PROMPT, **kwargs: Any
) -> list[Any]:
    """One public call, read to the end: the responses (or chunks) the caller got."""
    if mode == "sync":
        if stream:
            return list(c.models.generate_content_stream(model=MODEL, contents=contents, **kwargs))
        return [c.models.generate_content(model=MODEL, contents=contents, **kwargs)]

    async def main() -> list[Any]:
        if stream:
            chunks = await c.aio.models.generate_content_stream(
                model=MODEL, contents=contents, **kwargs
            )
            return [chunk async for chunk in chunks]
        return [await c.aio.models.generate_content(model=MODEL, contents=contents, **kwargs)]

    return asyncio.run(main())


def check_span(span: Any, line: dict[str, Any], fake: FakeProvider, index: int) -> None:
    """One request's span: name, kind, provider, ids, and the usage the fake billed."""
    sent = fake.responses[index]
    attrs = attributes(span)
    assert span.name == f"generate_content {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[a.GEN_AI_OPERATION_NAME] == "generate_content"
    assert attrs[a.GEN_AI_PROVIDER_NAME] == sent.provider
    assert attrs[a.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[a.GEN_AI_RESPONSE_ID] == sent.response_id
    assert attrs[a.GEN_AI_RESPONSE_MODEL] == MODEL
    usage = sent.usage or {}
    assert usage_attributes(span) == {
        a.GEN_AI_USAGE_INPUT_TOKENS: usage["promptTokenCount"]
        + usage.get("toolUsePromptTokenCount", 0),
        a.GEN_AI_USAGE_OUTPUT_TOKENS: usage["candidatesTokenCount"]
        + usage.get("thoughtsTokenCount", 0),
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.get("cachedContentTokenCount", 0),
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
        **(
            {a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage["thoughtsTokenCount"]}
            if "thoughtsTokenCount" in usage
            else {}
        ),
    }
    check_line(line, sent)
    assert line["span_id"] == format(span.context.span_id, "016x")


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.usefixtures("instrumented")
def test_each_request_is_one_span_and_the_line_the_fake_billed(
    mode: Mode, stream: bool, backend: Backend, fake: FakeProvider, out: Out
) -> None:
    """Two calls (the second reads the implicit cache), JSON or streamed, Gemini API or
    Vertex AI: one span and one line each, with the provider's registered name, exactly
    the usage the fake billed (thoughts in the output), the caller's results unchanged."""
    c = client(fake, backend)
    results = [call(mode, c, stream=stream, config=CONFIG) for _ in range(2)]
    spans, lines = out.spans(), out.lines()
    assert len(spans) == len(lines) == 2
    for index, (span, line) in enumerate(zip(spans, lines, strict=True)):
        assert fake.responses[index].provider == PROVIDERS[backend]
        check_span(span, line, fake, index)
    assert lines[1]["cache_read_input_tokens"] > 0 and lines[1]["thinking_tokens"] > 0
    final = results[1][-1].usage_metadata
    assert final.total_token_count == (fake.responses[1].usage or {})["totalTokenCount"]
    assert (len(results[1]) > 1) is stream


@pytest.mark.usefixtures("instrumented")
def test_tool_use_prompt_tokens_are_input(fake: FakeProvider, out: Out) -> None:
    """A server-side tool's results (tool_use_prompt_token_count) are input on top of the
    prompt: the line's fresh input includes them."""
    search = genai_types.Tool(google_search=genai_types.GoogleSearch())
    config = genai_types.GenerateContentConfig(tools=[search])
    call("sync", client(fake), stream=False, config=config)
    ((span, line),) = zip(out.spans(), out.lines(), strict=True)
    assert (fake.responses[0].usage or {})["toolUsePromptTokenCount"] == TOOL_USE_PROMPT_TOKENS
    check_span(span, line, fake, 0)
    assert line["input_tokens"] == (fake.responses[0].cache or 0).uncached + TOOL_USE_PROMPT_TOKENS  # type: ignore[union-attr]


def get_city_time(city: str) -> str:
    """The local time in a city."""
    return f"noon in {city}"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.usefixtures("instrumented")
def test_automatic_function_calling_is_one_span_per_request(
    mode: Mode, fake: FakeProvider, out: Out
) -> None:
    """With a Python function as a tool the SDK sends two requests for one call and
    returns only the last response: both are billed, so both are spans and lines."""
    config = genai_types.GenerateContentConfig(tools=[get_city_time])
    (response,) = call(mode, client(fake), stream=False, config=config)
    assert len(fake.responses) == 2
    spans, lines = out.spans(), out.lines()
    assert len(spans) == len(lines) == 2
    for index, (span, line) in enumerate(zip(spans, lines, strict=True)):
        check_span(span, line, fake, index)
    assert [line["message_count"] for line in lines] == [1, 3]  # + the call and its result
    # The public response reports the last request only; the lines hold both.
    assert (
        response.usage_metadata.total_token_count
        == (fake.responses[1].usage or {})["totalTokenCount"]
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.usefixtures("instrumented")
def test_a_stream_closed_early_ends_its_span_once_with_the_usage_read(
    mode: Mode, fake: FakeProvider, out: Out
) -> None:
    """Closing after the first chunk ends the span at once, with the running totals that
    chunk carried (the prompt: input and cache read, no output yet)."""
    c = client(fake)
    if mode == "sync":
        # A generator (typed as an Iterator by the SDK).
        chunks: Any = c.models.generate_content_stream(model=MODEL, contents=PROMPT)
        first = next(chunks)
        chunks.close()
    else:

        async def main() -> Any:
            agen: Any = await c.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
            async for chunk in agen:
                await agen.aclose()
                return chunk
            return None

        first = asyncio.run(main())
    ((span, line),) = zip(out.spans(), out.lines(), strict=True)
    read = first.usage_metadata
    assert read is not None
    assert attributes(span)[a.GEN_AI_USAGE_INPUT_TOKENS] == read.prompt_token_count
    assert attributes(span)[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 0
    assert line["input_tokens"] == read.prompt_token_count == (fake.responses[0].cache).total  # type: ignore[union-attr]
    assert line["output_tokens"] == 0


@pytest.mark.usefixtures("instrumented")
def test_an_abandoned_stream_is_ended_by_the_garbage_collector(
    fake: FakeProvider, out: Out
) -> None:
    """A stream dropped unfinished still ends its span (once) when collected."""
    c = client(fake)  # the SDK closes its HTTP client with the Client: keep it
    chunks = c.models.generate_content_stream(model=MODEL, contents=PROMPT)
    next(chunks)
    assert out.spans() == ()
    del chunks
    gc.collect()
    (span,) = out.spans()
    assert attributes(span)[a.GEN_AI_USAGE_INPUT_TOKENS] > 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.usefixtures("instrumented")
def test_provider_errors_reach_the_caller_and_mark_the_span(
    stream: bool, fake: FakeProvider, out: Out
) -> None:
    """An HTTP error (and, streamed, an error chunk mid-stream) raises the SDK's own
    APIError; the span is marked failed with error.type and there is no line."""
    fake.fail_next(status=503)
    with pytest.raises(errors.ServerError):
        call("sync", client(fake), stream=stream)
    (span,) = out.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)[a.ERROR_TYPE] == "ServerError"
    assert out.lines() == []
    if stream:
        fake.break_stream_after(1, error="internal")
        with pytest.raises(errors.ServerError):
            call("sync", client(fake), stream=True)
        broken = out.spans()[-1]
        assert broken.status.status_code is StatusCode.ERROR
        (line,) = out.lines()  # the first chunk's running totals had arrived
        assert line["output_tokens"] == 0 and line["input_tokens"] > 0


@pytest.mark.usefixtures("instrumented")
def test_session_and_chats_are_covered(fake: FakeProvider, out: Out) -> None:
    """Calls inside session() go to the session's log with its message count; a chat's
    send_message goes through the same per-request methods."""
    c = client(fake)
    chat = c.chats.create(model=MODEL)
    with session("gemini-chat", message_count=7):
        chat.send_message("Hello there, how are you?")
    (line,) = out.lines("gemini-chat")
    assert line["message_count"] == 7
    check_line(line, fake.responses[0])


def test_uninstrument_restores_the_sdk(pipeline: TracerProvider, fake: FakeProvider) -> None:
    """uninstrument() puts the SDK's own methods back: later calls make no span."""
    originals = {name: models.Models.__dict__[name] for name in ("_generate_content",)}
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    assert models.Models.__dict__["_generate_content"] is not originals["_generate_content"]
    instrumentor.uninstrument()
    assert models.Models.__dict__["_generate_content"] is originals["_generate_content"]


def test_without_the_private_methods_the_public_ones_are_wrapped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, pipeline: TracerProvider
) -> None:
    """A google-genai without the per-request methods: a loud warning, and the public
    methods are instrumented instead (one span per public call)."""
    monkeypatch.delattr(models.AsyncModels, "_generate_content_stream")
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    try:
        assert "AsyncModels._generate_content_stream gone" in caplog.text
        assert hasattr(models.Models.__dict__["generate_content"], "__wrapped__")
        assert not hasattr(models.Models.__dict__["_generate_content"], "__wrapped__")
    finally:
        instrumentor.uninstrument()
    assert not hasattr(models.Models.__dict__["generate_content"], "__wrapped__")


def test_entry_point_is_registered() -> None:
    """pyproject registers `google_genai_token_usage` for `opentelemetry-instrument`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["entry-points"]["opentelemetry_instrumentor"][
        "google_genai_token_usage"
    ]
    assert target == "otel_token_usage.instrumentation.google_genai:GoogleGenAIInstrumentor"
