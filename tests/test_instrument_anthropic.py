"""AnthropicInstrumentor: each Messages call is one span with exactly the usage the server
sent, and one session-log line; natively traced clients keep their own single span.

Real `anthropic` clients against the local fake provider, a real TracerProvider with an
in-memory exporter and `TokenUsageSpanExporter` writing real files.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import anthropic
import httpx2
import pytest
from anthropic.resources.messages.messages import AsyncMessages, Messages
from anthropic.types import MessageParam, TextBlockParam
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_token_usage import TokenUsageSpanExporter
from otel_token_usage import semconv as a
from otel_token_usage.instrumentation._span import CAPTURE_CONTENT_ENV
from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor
from otel_token_usage.testing import FakeClock, FakeProvider

MODEL = "claude-fake-1"
OUR_SCOPE = "otel_token_usage.instrumentation.anthropic"
NATIVE_SCOPE = "com.anthropic.sdk.python"
SYSTEM: list[TextBlockParam] = [
    {
        "type": "text",
        "text": "You are a careful assistant that answers briefly. " * 6,
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
]
Mode = Literal["json", "create_stream", "stream_text", "stream_final"]
MODES: tuple[Mode, ...] = ("json", "create_stream", "stream_text", "stream_final")
CONTENT_ATTRIBUTES = (
    a.GEN_AI_INPUT_MESSAGES,
    a.GEN_AI_OUTPUT_MESSAGES,
    a.GEN_AI_SYSTEM_INSTRUCTIONS,
)


def user(text: str) -> MessageParam:
    """A user turn ending in a 5-minute cache breakpoint."""
    return {
        "role": "user",
        "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
    }


FIRST: list[MessageParam] = [user("Please summarise the quarterly report for the board. " * 4)]
SECOND: list[MessageParam] = [
    *FIRST,
    {"role": "assistant", "content": "The report shows growth."},
    user("And what about the risks that the auditors listed?"),
]


# fixtures


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(clock=FakeClock()) as provider:
        yield provider


@pytest.fixture
def pipeline(tracer_provider: TracerProvider, exporter: TokenUsageSpanExporter) -> TracerProvider:
    """The tracer provider, also exporting into the session log."""
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


@pytest.fixture
def instrumented(pipeline: TracerProvider) -> Iterator[AnthropicInstrumentor]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    yield instrumentor
    instrumentor.uninstrument()


def client(fake: FakeProvider, open_telemetry: Any = False) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=open_telemetry
    )


def async_client(fake: FakeProvider, open_telemetry: Any = False) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=open_telemetry
    )


# the calls, each way the SDK offers


def ask(api: anthropic.Anthropic, mode: Mode, messages: list[MessageParam]) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 64}
    if mode == "json":
        api.messages.create(
            model=MODEL, max_tokens=256, system=SYSTEM, messages=messages, thinking=thinking
        )
    elif mode == "create_stream":
        for _ in api.messages.create(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            messages=messages,
            thinking=thinking,
            stream=True,
        ):
            pass
    else:
        with api.messages.stream(
            model=MODEL, max_tokens=256, system=SYSTEM, messages=messages, thinking=thinking
        ) as stream:
            if mode == "stream_text":
                assert "".join(stream.text_stream)
            else:
                assert stream.get_final_message().usage.output_tokens > 0


async def aask(api: anthropic.AsyncAnthropic, mode: Mode, messages: list[MessageParam]) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 64}
    if mode == "json":
        await api.messages.create(
            model=MODEL, max_tokens=256, system=SYSTEM, messages=messages, thinking=thinking
        )
    elif mode == "create_stream":
        async for _ in await api.messages.create(
            model=MODEL,
            max_tokens=256,
            system=SYSTEM,
            messages=messages,
            thinking=thinking,
            stream=True,
        ):
            pass
    else:
        async with api.messages.stream(
            model=MODEL, max_tokens=256, system=SYSTEM, messages=messages, thinking=thinking
        ) as stream:
            if mode == "stream_text":
                assert "".join([text async for text in stream.text_stream])
            else:
                assert (await stream.get_final_message()).usage.output_tokens > 0


# what was recorded


def spans(exporter: InMemorySpanExporter, scope: str = OUR_SCOPE) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.instrumentation_scope is not None and span.instrumentation_scope.name == scope
    ]


def log_lines(sessions_dir: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(sessions_dir.glob("*/token-usage.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def sent(fake: FakeProvider, index: int = -1) -> dict[str, Any]:
    usage = fake.responses[index].usage
    assert usage is not None
    return usage


def assert_span(span: ReadableSpan, usage: dict[str, Any], messages: int) -> None:
    """The span's attributes, field by field, against the usage the server sent."""
    attrs = dict(span.attributes or {})
    write = usage["cache_creation_input_tokens"]
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert attrs[a.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[a.GEN_AI_REQUEST_MODEL] == MODEL
    assert attrs[a.TOKEN_USAGE_MESSAGE_COUNT] == messages
    inclusive = usage["input_tokens"] + usage["cache_read_input_tokens"] + write
    assert attrs[a.GEN_AI_USAGE_INPUT_TOKENS] == inclusive
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == usage["output_tokens"]
    assert attrs[a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == usage["cache_read_input_tokens"]
    assert attrs[a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == write
    assert attrs[a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == write
    split = usage["cache_creation"]
    assert attrs[a.TOKEN_USAGE_CACHE_WRITE_5M] == split["ephemeral_5m_input_tokens"]
    assert attrs[a.TOKEN_USAGE_CACHE_WRITE_1H] == split["ephemeral_1h_input_tokens"]
    details = usage.get("output_tokens_details")
    if details is None:
        assert a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in attrs
    else:
        assert attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == details["thinking_tokens"]
    assert not set(CONTENT_ATTRIBUTES) & set(attrs)


def assert_line(line: dict[str, Any], span: ReadableSpan, usage: dict[str, Any], rid: str) -> None:
    """The session-log line, field by field, against the usage the server sent."""
    details = usage.get("output_tokens_details") or {}
    assert line["model"] == MODEL
    assert line["provider"] == "anthropic"
    assert line["message_count"] == dict(span.attributes or {})[a.TOKEN_USAGE_MESSAGE_COUNT]
    assert line["input_tokens"] == usage["input_tokens"]
    assert line["cache_read_input_tokens"] == usage["cache_read_input_tokens"]
    assert line["cache_creation_input_tokens"] == usage["cache_creation_input_tokens"]
    assert (
        line["cache_creation_5m_input_tokens"]
        == usage["cache_creation"]["ephemeral_5m_input_tokens"]
    )
    assert (
        line["cache_creation_1h_input_tokens"]
        == usage["cache_creation"]["ephemeral_1h_input_tokens"]
    )
    assert line["output_tokens"] == usage["output_tokens"]
    assert line["thinking_tokens"] == details.get("thinking_tokens", 0)
    assert line["span_id"] == f"{span.context.span_id:016x}"
    assert dict(span.attributes or {})[a.GEN_AI_RESPONSE_ID] == rid


def assert_two_turns(
    fake: FakeProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """A cold turn writing both TTLs, then a warm turn reading them and writing a 5m entry."""
    cold, warm = sent(fake, 0), sent(fake, 1)
    assert cold["cache_creation"]["ephemeral_1h_input_tokens"] > 0
    assert cold["cache_creation"]["ephemeral_5m_input_tokens"] > 0
    assert warm["cache_read_input_tokens"] > 0
    assert warm["cache_creation"]["ephemeral_5m_input_tokens"] > 0
    assert cold["output_tokens_details"]["thinking_tokens"] > 0
    ours = spans(span_exporter)
    lines = log_lines(sessions_dir)
    assert len(ours) == len(lines) == 2
    assert spans(span_exporter, NATIVE_SCOPE) == []
    for index, (span, line, messages) in enumerate(zip(ours, lines, (1, 3), strict=True)):
        response = fake.responses[index]
        assert response.response_id is not None
        assert span.status.status_code is StatusCode.UNSET
        assert dict(span.attributes or {})[a.GEN_AI_RESPONSE_MODEL] == MODEL
        assert_span(span, sent(fake, index), messages)
        assert_line(line, span, sent(fake, index), response.response_id)


# every way of calling, sync and async


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("mode", MODES)
def test_sync_call_is_one_span_and_one_line_with_the_usage_sent(
    mode: Mode, fake: FakeProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """Sync create / create(stream=True) / stream().text_stream / get_final_message: one span
    and one log line per call, cache 5m/1h writes, reads and thinking exactly as sent."""
    api = client(fake)
    ask(api, mode, FIRST)
    ask(api, mode, SECOND)
    assert_two_turns(fake, span_exporter, sessions_dir)


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("mode", MODES)
def test_async_call_is_one_span_and_one_line_with_the_usage_sent(
    mode: Mode, fake: FakeProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """The same four ways of calling through AsyncAnthropic give the same spans and lines."""

    async def run() -> None:
        async with async_client(fake) as api:
            await aask(api, mode, FIRST)
            await aask(api, mode, SECOND)

    asyncio.run(run())
    assert_two_turns(fake, span_exporter, sessions_dir)


# streams that end early


def assert_partial(
    span: ReadableSpan, fake: FakeProvider, lines: list[dict[str, Any]], output_tokens: int
) -> None:
    """An unfinished stream's span and line hold what arrived: message_start's usage."""
    full = sent(fake)
    arrived = {**full, "output_tokens": output_tokens, "output_tokens_details": None}
    assert_span(span, arrived, 1)
    assert len(lines) == 1
    assert lines[0]["output_tokens"] == output_tokens
    assert lines[0]["input_tokens"] == full["input_tokens"]
    assert lines[0]["cache_creation_input_tokens"] == full["cache_creation_input_tokens"]


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("how", ["close", "gc", "manager_exit", "manager_gc"])
def test_stream_abandoned_after_its_first_event_ends_its_span_once(
    how: str,
    fake: FakeProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stream left after message_start (closed, exited, or dropped and collected) ends
    its span exactly once, with message_start's usage."""
    api = client(fake)
    if how in ("close", "gc"):
        raw = api.messages.create(model=MODEL, max_tokens=256, messages=FIRST, stream=True)
        first = next(iter(raw))
        assert first.type == "message_start"
        if how == "close":
            raw.close()
        del raw
    elif how == "manager_exit":
        with api.messages.stream(model=MODEL, max_tokens=256, messages=FIRST) as stream:
            assert next(iter(stream)).type == "message_start"
    else:
        manager = api.messages.stream(model=MODEL, max_tokens=256, messages=FIRST)
        stream = manager.__enter__()
        assert next(iter(stream)).type == "message_start"
        del manager, stream
    gc.collect()
    ours = spans(span_exporter)
    assert len(ours) == 1
    assert_partial(ours[0], fake, log_lines(sessions_dir), output_tokens=1)
    gc.collect()
    assert len(spans(span_exporter)) == 1
    assert "ended span" not in caplog.text


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("how", ["close", "gc", "manager_exit"])
def test_async_stream_abandoned_after_its_first_event_ends_its_span_once(
    how: str, fake: FakeProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """The async streams end their span once too, when closed, exited or collected."""

    async def run() -> None:
        async with async_client(fake) as api:
            if how == "manager_exit":
                async with api.messages.stream(
                    model=MODEL, max_tokens=256, messages=FIRST
                ) as stream:
                    assert (await stream.__anext__()).type == "message_start"
                return
            raw = await api.messages.create(
                model=MODEL, max_tokens=256, messages=FIRST, stream=True
            )
            assert (await raw.__anext__()).type == "message_start"
            if how == "close":
                await raw.close()
            del raw
            gc.collect()

    asyncio.run(run())
    ours = spans(span_exporter)
    assert len(ours) == 1
    assert_partial(ours[0], fake, log_lines(sessions_dir), output_tokens=1)


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("path", ["create", "stream", "async_create"])
def test_broken_stream_marks_the_span_as_error_with_the_usage_that_arrived(
    path: str, fake: FakeProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """A connection cut mid-stream raises the SDK's own error unchanged; the span is
    ERROR, ended once, with message_start's usage."""
    fake.break_stream_after(3)
    api = client(fake)
    with pytest.raises(httpx2.TransportError) as broken:
        if path == "create":
            for _ in api.messages.create(model=MODEL, max_tokens=256, messages=FIRST, stream=True):
                pass
        elif path == "stream":
            with api.messages.stream(model=MODEL, max_tokens=256, messages=FIRST) as stream:
                stream.get_final_message()
        else:

            async def run() -> None:
                async with async_client(fake) as aapi:
                    async for _ in await aapi.messages.create(
                        model=MODEL, max_tokens=256, messages=FIRST, stream=True
                    ):
                        pass

            asyncio.run(run())
    assert fake.responses[-1].broken
    ours = spans(span_exporter)
    assert len(ours) == 1
    span = ours[0]
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[a.ERROR_TYPE] == type(broken.value).__qualname__
    assert_partial(span, fake, log_lines(sessions_dir), output_tokens=1)


@pytest.mark.usefixtures("instrumented")
def test_in_stream_error_event_raises_the_sdk_error_and_marks_the_span(
    fake: FakeProvider, span_exporter: InMemorySpanExporter
) -> None:
    """An `error` event inside the stream surfaces as anthropic's APIStatusError; span ERROR."""
    fake.break_stream_after(3, error="overloaded_error")
    with pytest.raises(anthropic.APIStatusError) as failed:
        for _ in client(fake).messages.create(
            model=MODEL, max_tokens=256, messages=FIRST, stream=True
        ):
            pass
    (span,) = spans(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[a.ERROR_TYPE] == type(failed.value).__qualname__


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("path", ["create", "create_stream", "stream", "async_create", "astream"])
def test_provider_error_propagates_unchanged_and_marks_the_span(
    path: str, fake: FakeProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """An API error reaches the caller as anthropic's own exception class; the span is
    ERROR with error.type and the exception event; no usage, so no log line."""
    fake.fail_next()
    api = client(fake)

    async def run_async() -> None:
        async with async_client(fake) as aapi:
            if path == "async_create":
                await aapi.messages.create(model=MODEL, max_tokens=256, messages=FIRST)
            else:
                async with aapi.messages.stream(model=MODEL, max_tokens=256, messages=FIRST):
                    pass

    with pytest.raises(anthropic.APIStatusError) as failed:
        if path == "create":
            api.messages.create(model=MODEL, max_tokens=256, messages=FIRST)
        elif path == "create_stream":
            api.messages.create(model=MODEL, max_tokens=256, messages=FIRST, stream=True)
        elif path == "stream":
            with api.messages.stream(model=MODEL, max_tokens=256, messages=FIRST):
                pass
        else:
            asyncio.run(run_async())
    assert type(failed.value) is anthropic.OverloadedError
    assert failed.value.status_code == 529
    (span,) = spans(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[a.ERROR_TYPE] == "OverloadedError"
    assert [event.name for event in span.events] == ["exception"]
    assert a.GEN_AI_USAGE_INPUT_TOKENS not in dict(span.attributes or {})
    assert log_lines(sessions_dir) == []


# native tracing


@pytest.mark.usefixtures("instrumented")
def test_natively_traced_client_keeps_its_single_span_per_call(
    fake: FakeProvider,
    pipeline: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
) -> None:
    """A client whose SDK traces natively, with our instrumentor on: exactly one span (the
    SDK's) and one log line per call, sync and async, JSON and streamed."""
    native: Any = {"tracer_provider": pipeline}
    api = client(fake, open_telemetry=native)
    for mode in MODES:
        ask(api, mode, FIRST)

    async def run() -> None:
        async with async_client(fake, open_telemetry=native) as aapi:
            for mode in MODES:
                await aask(aapi, mode, FIRST)

    asyncio.run(run())
    calls = 2 * len(MODES)
    assert len(fake.responses) == calls
    assert spans(span_exporter) == []
    assert len(spans(span_exporter, NATIVE_SCOPE)) == calls
    assert len(span_exporter.get_finished_spans()) == calls
    lines = log_lines(sessions_dir)
    assert len(lines) == calls
    for index, line in enumerate(lines):
        usage = sent(fake, index)
        assert line["input_tokens"] == usage["input_tokens"]
        assert line["output_tokens"] == usage["output_tokens"]
        assert line["cache_creation_input_tokens"] == usage["cache_creation_input_tokens"]


@pytest.mark.usefixtures("instrumented")
def test_clients_with_and_without_native_tracing_side_by_side(
    fake: FakeProvider, pipeline: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """The decision is per client and per call: one client traced natively, one with
    open_telemetry=False, in the same process, each call one span."""
    client(fake, open_telemetry={"tracer_provider": pipeline}).messages.create(
        model=MODEL, max_tokens=256, messages=FIRST
    )
    client(fake).messages.create(model=MODEL, max_tokens=256, messages=FIRST)
    assert len(spans(span_exporter, NATIVE_SCOPE)) == 1
    assert len(spans(span_exporter)) == 1


_GLOBAL_PROVIDER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import anthropic
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor

    base_url = sys.argv[1]
    ours, native = InMemorySpanExporter(), InMemorySpanExporter()
    mine = TracerProvider()
    mine.add_span_processor(SimpleSpanProcessor(ours))
    AnthropicInstrumentor().instrument(tracer_provider=mine)

    def call(api):
        api.messages.create(
            model="m", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )

    def counts():
        return [len(ours.get_finished_spans()), len(native.get_finished_spans())]

    default = anthropic.Anthropic(base_url=base_url, api_key="test")
    os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
    opted_out = anthropic.Anthropic(base_url=base_url, api_key="test")
    result = {}
    call(default)
    result["before_global"] = counts()
    global_provider = TracerProvider()
    global_provider.add_span_processor(SimpleSpanProcessor(native))
    trace.set_tracer_provider(global_provider)
    call(default)
    result["after_global"] = counts()
    call(opted_out)
    result["env_opted_out"] = counts()
    print(json.dumps(result))
    """
)


@pytest.mark.slow
def test_global_tracer_provider_switches_a_default_client_to_native_spans(
    fake: FakeProvider,
) -> None:
    """In a subprocess (global state): a default client has no native span until a global
    tracer provider is set, so we trace it; once one is set, the SDK's span is the only
    one; a client built under ANTHROPIC_OPEN_TELEMETRY=false stays ours."""
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER_SCRIPT, fake.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "before_global": [1, 0],
        "after_global": [1, 1],
        "env_opted_out": [2, 1],
    }


# lifecycle and content


def test_uninstrument_restores_the_original_methods(
    pipeline: TracerProvider, fake: FakeProvider, span_exporter: InMemorySpanExporter
) -> None:
    """instrument() patches the four methods; uninstrument() puts back the very same
    function objects, after which calls make no span."""
    originals = {
        (owner, name): owner.__dict__[name]
        for owner in (Messages, AsyncMessages)
        for name in ("create", "stream")
    }
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline)
    try:
        for (owner, name), original in originals.items():
            assert owner.__dict__[name] is not original
        client(fake).messages.create(model=MODEL, max_tokens=256, messages=FIRST)
        assert len(spans(span_exporter)) == 1
    finally:
        instrumentor.uninstrument()
    for (owner, name), original in originals.items():
        assert owner.__dict__[name] is original
    client(fake).messages.create(model=MODEL, max_tokens=256, messages=FIRST)
    assert len(spans(span_exporter)) == 1
    assert AnthropicInstrumentor().instrumentation_dependencies() == ("anthropic >= 0.40",)


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("mode", ["json", "create_stream"])
def test_content_only_when_opted_in(
    mode: Mode,
    fake: FakeProvider,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the capture variable set, the span carries the request messages, system
    prompt and reply as GenAI structured messages; usage is unchanged."""
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    ask(client(fake), mode, FIRST)
    (span,) = spans(span_exporter)
    attrs = dict(span.attributes or {})
    inputs = json.loads(str(attrs[a.GEN_AI_INPUT_MESSAGES]))
    assert inputs[0]["role"] == "user"
    assert inputs[0]["parts"][0]["content"] == FIRST[0]["content"][0]["text"]  # type: ignore[index]
    system = json.loads(str(attrs[a.GEN_AI_SYSTEM_INSTRUCTIONS]))
    assert system == [{"type": "text", "content": SYSTEM[0]["text"]}]
    (output,) = json.loads(str(attrs[a.GEN_AI_OUTPUT_MESSAGES]))
    assert output["role"] == "assistant"
    assert output["finish_reason"] == "end_turn"
    kinds = [part["type"] for part in output["parts"]]
    assert kinds == ["reasoning", "text"]
    assert output["parts"][1]["content"] == fake.reply
    assert attrs[a.GEN_AI_USAGE_OUTPUT_TOKENS] == sent(fake)["output_tokens"]


def test_instrumentor_logs_nothing_on_a_clean_call(
    instrumented: AnthropicInstrumentor, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """A normal call through the instrumentor logs no warning of ours."""
    with caplog.at_level(logging.WARNING, logger="otel_token_usage"):
        client(fake).messages.create(model=MODEL, max_tokens=256, messages=FIRST)
    assert caplog.records == []


# sessions and raw responses


def test_session_gives_session_id_and_message_count(
    session_tracer_provider: TracerProvider,
    fake: FakeProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
) -> None:
    """Inside session(message_count=...) the span and line carry the session's id and
    count; in a session that gives no count, the count is the number of request messages."""
    from otel_token_usage import session

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=session_tracer_provider)
    try:
        api = client(fake)
        with session("sess-a", message_count=42):
            api.messages.create(model=MODEL, max_tokens=256, messages=SECOND)
        with session("sess-b"):
            api.messages.create(model=MODEL, max_tokens=256, messages=SECOND)
    finally:
        instrumentor.uninstrument()
    first, second = (dict(span.attributes or {}) for span in spans(span_exporter))
    assert first[a.GEN_AI_CONVERSATION_ID] == "sess-a"
    assert first[a.TOKEN_USAGE_MESSAGE_COUNT] == 42
    assert second[a.GEN_AI_CONVERSATION_ID] == "sess-b"
    assert second[a.TOKEN_USAGE_MESSAGE_COUNT] == 3
    line_a, line_b = log_lines(sessions_dir)  # sorted by session directory
    assert (line_a["session_id"], line_a["message_count"]) == ("sess-a", 42)
    assert (line_b["session_id"], line_b["message_count"]) == ("sess-b", 3)


@pytest.mark.usefixtures("instrumented")
def test_raw_response_is_traced_and_streaming_response_passed_through(
    fake: FakeProvider, span_exporter: InMemorySpanExporter
) -> None:
    """with_raw_response.create gives one span with the usage sent (the caller's parse()
    returns the same message); with_streaming_response is left to the caller untouched."""
    api = client(fake)
    raw = api.messages.with_raw_response.create(model=MODEL, max_tokens=256, messages=FIRST)
    (span,) = spans(span_exporter)
    assert_span(span, sent(fake), 1)
    assert raw.parse() is raw.parse()
    assert raw.parse().id == fake.responses[-1].response_id

    async def run() -> None:
        async with async_client(fake) as aapi:
            response = await aapi.messages.with_raw_response.create(
                model=MODEL, max_tokens=256, messages=FIRST
            )
            assert (await response.parse()).id == fake.responses[-1].response_id

    asyncio.run(run())
    assert len(spans(span_exporter)) == 2
    assert_span(spans(span_exporter)[1], sent(fake), 1)

    with api.messages.with_streaming_response.create(
        model=MODEL, max_tokens=256, messages=FIRST
    ) as streamed:
        assert streamed.parse().id == fake.responses[-1].response_id
    assert len(spans(span_exporter)) == 2
