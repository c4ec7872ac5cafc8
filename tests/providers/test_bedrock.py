"""BedrockInstrumentor: real boto3 `bedrock-runtime` clients (Converse and ConverseStream)
against the fake, through a real TracerProvider into the in-memory exporter and
TokenUsageSpanExporter. Each call is checked against what the fake billed for it."""

from __future__ import annotations

import gc
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, EventStreamError, ParamValidationError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from otel_token_usage import semconv as a
from otel_token_usage import session
from otel_token_usage.instrumentation.bedrock import BedrockInstrumentor
from otel_token_usage.testing import FakeProvider

from .helpers import Out, attributes, bedrock, check_line, usage_attributes

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ROOT = Path(__file__).resolve().parents[2]
SYSTEM = [
    {"text": "You are a careful assistant for the tests. Answer briefly and kindly."},
    {"cachePoint": {"type": "default", "ttl": "1h"}},
]
TURN = [
    {
        "role": "user",
        "content": [
            {"text": "Tell me about prompt caches and how long their entries last."},
            {"cachePoint": {"type": "default"}},  # 5 minutes, the default
        ],
    }
]


@pytest.fixture
def instrumentor(pipeline: TracerProvider) -> Iterator[BedrockInstrumentor]:
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def converse(client: Any, *, stream: bool, **kwargs: Any) -> Any:
    """One call read to the end; the response (events listed for a stream)."""
    request = {"modelId": MODEL, "system": SYSTEM, "messages": TURN, **kwargs}
    if not stream:
        return client.converse(**request)
    response = client.converse_stream(**request)
    return {**response, "events": list(response["stream"])}


def check_span(span: Any, line: dict[str, Any], fake: FakeProvider, index: int) -> None:
    """One call's span and line: provider, model, request id, the usage the fake billed."""
    sent = fake.responses[index]
    usage = sent.usage or {}
    attrs = attributes(span)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[a.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[a.GEN_AI_RESPONSE_ID] == sent.response_id
    read, write = usage.get("cacheReadInputTokens", 0), usage.get("cacheWriteInputTokens", 0)
    expected = {
        a.GEN_AI_USAGE_INPUT_TOKENS: usage["inputTokens"] + read + write,
        a.GEN_AI_USAGE_OUTPUT_TOKENS: usage["outputTokens"],
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: read,
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: write,
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: write,
    }
    if "cacheDetails" in usage:
        ttl = {d["ttl"]: d["inputTokens"] for d in usage["cacheDetails"]}
        expected[a.TOKEN_USAGE_CACHE_WRITE_5M] = ttl.get("5m", 0)
        expected[a.TOKEN_USAGE_CACHE_WRITE_1H] = ttl.get("1h", 0)
    assert usage_attributes(span) == expected
    check_line(line, sent)
    assert line["model"] == MODEL and line["provider"] == "aws.bedrock"


@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse_stream"])
@pytest.mark.usefixtures("instrumentor")
def test_each_call_is_one_span_and_the_line_the_fake_billed(
    stream: bool, fake: FakeProvider, out: Out
) -> None:
    """Two calls: the first writes the 1h system and the 5m turn to the cache, the
    second reads them. One span and one line each, exactly as billed, with the 5m/1h
    split; the caller's response (and events) unchanged."""
    client = bedrock(fake.base_url)
    responses = [converse(client, stream=stream) for _ in range(2)]
    spans, lines = out.spans(), out.lines()
    assert len(spans) == len(lines) == 2
    for index, (span, line) in enumerate(zip(spans, lines, strict=True)):
        check_span(span, line, fake, index)
    first, second = lines
    assert first["cache_creation_1h_input_tokens"] > 0
    assert first["cache_creation_5m_input_tokens"] > 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    for response, sent in zip(responses, fake.responses, strict=True):
        if stream:
            assert response["events"][-1]["metadata"]["usage"] == sent.usage
        else:
            assert response["usage"] == sent.usage


@pytest.mark.usefixtures("instrumentor")
def test_thinking_is_output_and_not_reported_apart(fake: FakeProvider, out: Out) -> None:
    """Bedrock bills thinking inside outputTokens and reports no split: the line's
    output has it, its thinking_tokens is 0."""
    client = bedrock(fake.base_url)
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    converse(client, stream=True, additionalModelRequestFields=thinking)
    (line,) = out.lines()
    check_line(line, fake.responses[0])
    assert line["output_tokens"] > len(fake.reply.split()) and line["thinking_tokens"] == 0


@pytest.mark.usefixtures("instrumentor")
def test_a_stream_closed_before_its_usage_ends_its_span_without_a_line(
    fake: FakeProvider, out: Out
) -> None:
    """Usage comes in the last (metadata) event: a stream closed before it ends the span
    once, with no usage, so no line."""
    response = bedrock(fake.base_url).converse_stream(modelId=MODEL, messages=TURN)
    stream = response["stream"]
    assert "messageStart" in next(iter(stream))
    stream.close()
    stream.close()
    (span,) = out.spans()
    assert a.GEN_AI_USAGE_INPUT_TOKENS not in attributes(span)
    assert out.lines() == []


@pytest.mark.usefixtures("instrumentor")
def test_an_abandoned_stream_is_ended_by_the_garbage_collector(
    fake: FakeProvider, out: Out
) -> None:
    response = bedrock(fake.base_url).converse_stream(modelId=MODEL, messages=TURN)
    next(iter(response["stream"]))
    assert out.spans() == ()
    del response
    gc.collect()
    assert len(out.spans()) == 1


@pytest.mark.usefixtures("instrumentor")
def test_errors_reach_the_caller_and_mark_the_span(fake: FakeProvider, out: Out) -> None:
    """An HTTP error (error.type = the API's code), an exception inside the event stream,
    and a connection error: botocore's exceptions, unchanged; each span failed; no line."""
    client = bedrock(fake.base_url)
    fake.fail_next(status=429)
    with pytest.raises(client.exceptions.ThrottlingException):
        converse(client, stream=False)
    fake.break_stream_after(2, error="throttlingException")
    with pytest.raises(EventStreamError):
        converse(client, stream=True)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    with pytest.raises(EndpointConnectionError):
        converse(bedrock(f"http://127.0.0.1:{closed_port}"), stream=False)
    spans = out.spans()
    assert [attributes(s)[a.ERROR_TYPE] for s in spans] == [
        "ThrottlingException",
        "EventStreamError",
        "EndpointConnectionError",
    ]
    assert all(s.status.status_code is StatusCode.ERROR for s in spans)
    assert out.lines() == []


@pytest.mark.usefixtures("instrumentor")
def test_invalid_parameters_start_no_span(fake: FakeProvider, out: Out) -> None:
    """botocore refuses bad parameters before sending anything: no span is left open."""
    with pytest.raises(ParamValidationError):
        bedrock(fake.base_url).converse(modelId=MODEL, messages="not a list")
    assert out.spans() == () and fake.requests == []


def test_session_clients_and_uninstrument(
    pipeline: TracerProvider, fake: FakeProvider, out: Out
) -> None:
    """A client created before instrument() is not traced; inside session() a call goes
    to the session's log with its message count; after uninstrument() no client is."""
    before = bedrock(fake.base_url)
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    try:
        after = bedrock(fake.base_url)
        converse(before, stream=False)
        with session("bedrock-session", message_count=5):
            converse(after, stream=False)
    finally:
        instrumentor.uninstrument()
    converse(after, stream=True)
    converse(bedrock(fake.base_url), stream=False)
    assert len(fake.responses) == 4
    (span,) = out.spans()
    (line,) = out.lines("bedrock-session")
    assert line["message_count"] == 5
    check_span(span, line, fake, 1)


def test_entry_point_is_registered() -> None:
    """pyproject registers `bedrock_token_usage` for `opentelemetry-instrument`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["entry-points"]["opentelemetry_instrumentor"]["bedrock_token_usage"]
    assert target == "otel_token_usage.instrumentation.bedrock:BedrockInstrumentor"
