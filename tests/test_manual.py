"""llm_call(): one exact span per manual LLM call, and its line in the session's log."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import CacheCreation, OutputTokensDetails
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionMessageParam
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails
from openai.types.responses import ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails
from openai.types.responses.response_usage import OutputTokensDetails as ResponseOutputDetails
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_token_usage import llm_call, session
from otel_token_usage import semconv as a
from otel_token_usage.record import BUDGET_FIELDS, EXTENSION_FIELDS, LOG_FILE_NAME, SEED_FIELDS
from otel_token_usage.testing import FakeClock, FakeProvider

from .helpers import budget_snapshot, read_lines

CLAUDE = "claude-fake-1"
GPT = "gpt-fake-1"


def log_lines(sessions_dir: Path, session_id: str) -> list[dict[str, Any]]:
    path = sessions_dir / session_id / LOG_FILE_NAME
    return [json.loads(line) for line in read_lines(path)] if path.exists() else []


def all_lines(sessions_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sessions_dir.rglob(LOG_FILE_NAME) for line in read_lines(p)]


def ours(span_exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Finished spans of the manual API's instrumentation scope."""
    return [
        span
        for span in span_exporter.get_finished_spans()
        if span.instrumentation_scope is not None
        and span.instrumentation_scope.name == "otel_token_usage"
    ]


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# every usage shape, through the span into the line

ANTHROPIC_USAGE = AnthropicUsage(
    input_tokens=100,
    cache_read_input_tokens=1_000,
    cache_creation_input_tokens=300,
    cache_creation=CacheCreation(ephemeral_5m_input_tokens=100, ephemeral_1h_input_tokens=200),
    output_tokens=50,
    output_tokens_details=OutputTokensDetails(thinking_tokens=20),
)
CHAT_USAGE = CompletionUsage(
    prompt_tokens=1_200,
    prompt_tokens_details=PromptTokensDetails(cached_tokens=1_000),
    completion_tokens=80,
    completion_tokens_details=CompletionTokensDetails(reasoning_tokens=30),
    total_tokens=1_280,
)
RESPONSES_USAGE = ResponseUsage(
    input_tokens=900,
    input_tokens_details=InputTokensDetails(cached_tokens=600, cache_write_tokens=0),
    output_tokens=40,
    output_tokens_details=ResponseOutputDetails(reasoning_tokens=10),
    total_tokens=940,
)
# (usage, provider, span usage attributes, line counts, 5m/1h split or None)
ANTHROPIC_SPAN = {
    a.GEN_AI_USAGE_INPUT_TOKENS: 1_400,
    a.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1_000,
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 300,
    a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 300,
    a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 20,
    a.TOKEN_USAGE_CACHE_WRITE_5M: 100,
    a.TOKEN_USAGE_CACHE_WRITE_1H: 200,
}
ANTHROPIC_LINE = (300, 1_000, 100, 50, 20)
CHAT_SPAN = {
    a.GEN_AI_USAGE_INPUT_TOKENS: 1_200,
    a.GEN_AI_USAGE_OUTPUT_TOKENS: 80,
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1_000,
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
    a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
    a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 30,
}
CHAT_LINE = (0, 1_000, 200, 80, 30)
RESPONSES_SPAN = {
    a.GEN_AI_USAGE_INPUT_TOKENS: 900,
    a.GEN_AI_USAGE_OUTPUT_TOKENS: 40,
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 600,
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
    a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
    a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 10,
}
RESPONSES_LINE = (0, 600, 300, 40, 10)
USAGE_CASES = [
    pytest.param(ANTHROPIC_USAGE, "anthropic", ANTHROPIC_SPAN, ANTHROPIC_LINE, id="anthropic"),
    pytest.param(
        ANTHROPIC_USAGE.model_dump(),
        "anthropic",
        ANTHROPIC_SPAN,
        ANTHROPIC_LINE,
        id="anthropic-map",
    ),
    pytest.param(CHAT_USAGE, "openai", CHAT_SPAN, CHAT_LINE, id="openai-chat"),
    pytest.param(CHAT_USAGE.model_dump(), "openai", CHAT_SPAN, CHAT_LINE, id="openai-chat-map"),
    pytest.param(RESPONSES_USAGE, "openai", RESPONSES_SPAN, RESPONSES_LINE, id="openai-responses"),
    pytest.param(
        RESPONSES_USAGE.model_dump(), "openai", RESPONSES_SPAN, RESPONSES_LINE, id="responses-map"
    ),
]


@pytest.mark.parametrize(("usage", "provider", "span_usage", "line_counts"), USAGE_CASES)
def test_usage_objects_become_exact_span_attributes_and_line(
    *,
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
    usage: object,
    provider: str,
    span_usage: dict[str, int],
    line_counts: tuple[int, int, int, int, int],
) -> None:
    """Anthropic Usage, OpenAI CompletionUsage and ResponseUsage (objects or mappings):
    the span has the conventions' inclusive input and every usage attribute, the line
    has fresh input disjoint from the cache counts, field by field and in order."""
    budget = budget_snapshot()
    with (
        session("m-1", budget=budget, message_count=6),
        llm_call(
            model="model-x", provider=provider, tracer_provider=session_tracer_provider
        ) as call,
    ):
        call.record_usage(usage)
        call.record_response(id="resp_1", model="model-x-2026")
    [span] = ours(span_exporter)
    assert (span.name, span.kind, span.status.status_code) == (
        "chat model-x",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    attrs = attrs_of(span)
    usage_names = {name for name in attrs if name.startswith(("gen_ai.usage.", "token_usage.c"))}
    assert {name: attrs[name] for name in usage_names} == span_usage
    assert {name: attrs[name] for name in (a.GEN_AI_OPERATION_NAME, a.GEN_AI_PROVIDER_NAME)} == {
        a.GEN_AI_OPERATION_NAME: "chat",
        a.GEN_AI_PROVIDER_NAME: provider,
    }
    assert attrs[a.GEN_AI_REQUEST_MODEL] == "model-x"
    assert (attrs[a.GEN_AI_RESPONSE_ID], attrs[a.GEN_AI_RESPONSE_MODEL]) == (
        "resp_1",
        "model-x-2026",
    )
    assert (attrs[a.GEN_AI_CONVERSATION_ID], attrs[a.TOKEN_USAGE_MESSAGE_COUNT]) == ("m-1", 6)

    [line] = log_lines(sessions_dir, "m-1")
    cache_creation, cache_read, fresh, output, thinking = line_counts
    context = span.context
    assert context is not None
    expected: dict[str, Any] = {
        "session_id": "m-1",
        "model": "model-x-2026",
        "provider": provider,
        "message_count": 6,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
        "input_tokens": fresh,
        "output_tokens": output,
        "thinking_tokens": thinking,
        **{field: getattr(budget, field) for field in BUDGET_FIELDS},
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
    }
    # Only Anthropic splits cache writes by TTL; elsewhere the split is unknown: null.
    anthropic = provider == "anthropic"
    expected["cache_creation_5m_input_tokens"] = 100 if anthropic else None
    expected["cache_creation_1h_input_tokens"] = 200 if anthropic else None
    assert list(line) == [*SEED_FIELDS, *EXTENSION_FIELDS]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert {name: line[name] for name in expected} == expected
    assert fresh + cache_read + cache_creation == span_usage[a.GEN_AI_USAGE_INPUT_TOKENS]
    assert isinstance(line["duration_ms"], int)


def test_usage_recorded_twice_is_replaced_not_added(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """A second record_usage (a stream's cumulative count) replaces the first."""
    with llm_call(model="m", provider="anthropic", tracer_provider=session_tracer_provider) as c:
        c.record_usage({"input_tokens": 10, "output_tokens": 1})
        final = c.record_usage({"input_tokens": 10, "output_tokens": 7})
    assert final is not None
    assert final.output_tokens == 7
    [span] = ours(span_exporter)
    assert attrs_of(span)[a.GEN_AI_USAGE_OUTPUT_TOKENS] == 7


# real clients against the fake provider


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(clock=FakeClock(start=1_000.0)) as provider:
        yield provider


def test_record_takes_whole_responses_of_real_clients(
    fake: FakeProvider,
    session_tracer_provider: TracerProvider,
    sessions_dir: Path,
) -> None:
    """record(message) with an Anthropic Message, an OpenAI ChatCompletion and Response:
    each line says exactly what the server sent."""
    claude = anthropic.Anthropic(
        base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=False
    )
    gpt = openai.OpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)
    text = "You are a careful assistant that answers briefly. " * 6
    provider = session_tracer_provider
    with session("real"):
        with llm_call(model=CLAUDE, provider="anthropic", tracer_provider=provider) as c:
            c.record(
                claude.messages.create(
                    model=CLAUDE,
                    max_tokens=256,
                    system=[{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}],
                    messages=[{"role": "user", "content": "hello"}],
                )
            )
        chat: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": text},
            {"role": "user", "content": "hello"},
        ]
        for _ in range(2):  # the second call reads the automatic OpenAI cache
            with llm_call(model=GPT, provider="openai", tracer_provider=provider) as c:
                c.record(gpt.chat.completions.create(model=GPT, messages=chat))
        with llm_call(model=GPT, provider="openai", tracer_provider=provider) as c:
            c.record(gpt.responses.create(model=GPT, input="hi there", reasoning={"effort": "low"}))
    claude.close()
    gpt.close()

    lines = log_lines(sessions_dir, "real")
    assert len(lines) == 4
    sent = [response.usage for response in fake.responses]
    first = sent[0]
    assert first is not None
    assert (lines[0]["input_tokens"], lines[0]["cache_creation_input_tokens"]) == (
        first["input_tokens"],
        first["cache_creation_input_tokens"],
    )
    assert (
        lines[0]["cache_creation_5m_input_tokens"]
        == (first["cache_creation"]["ephemeral_5m_input_tokens"])
    )
    assert lines[0]["output_tokens"] == first["output_tokens"]
    for line, usage in zip(lines[1:3], sent[1:3], strict=True):
        assert usage is not None
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        assert line["input_tokens"] == usage["prompt_tokens"] - cached
        assert line["cache_read_input_tokens"] == cached
        assert line["output_tokens"] == usage["completion_tokens"]
    assert lines[2]["cache_read_input_tokens"] > 0
    responses_usage = sent[3]
    assert responses_usage is not None
    cached = responses_usage["input_tokens_details"]["cached_tokens"]
    assert lines[3]["input_tokens"] == responses_usage["input_tokens"] - cached
    assert (
        lines[3]["thinking_tokens"]
        == (responses_usage["output_tokens_details"]["reasoning_tokens"])
    )
    assert lines[3]["thinking_tokens"] > 0
    assert [line["model"] for line in lines] == [CLAUDE, GPT, GPT, GPT]


def test_native_span_and_ours_for_one_call_make_one_line(
    fake: FakeProvider,
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
) -> None:
    """The Anthropic SDK's own span inside llm_call: two spans of the same call (same
    gen_ai.response.id, the native one our child), one line in the session's log."""
    client = anthropic.Anthropic(
        base_url=fake.base_url,
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": session_tracer_provider},
    )
    with (
        session("dup", message_count=2),
        llm_call(model=CLAUDE, provider="anthropic", tracer_provider=session_tracer_provider) as c,
    ):
        c.record(
            client.messages.create(
                model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "once"}]
            )
        )
    client.close()
    [mine] = ours(span_exporter)
    [native] = [s for s in span_exporter.get_finished_spans() if s is not mine]
    assert native.name == "anthropic.messages.create"
    assert native.parent is not None and mine.context is not None
    assert native.parent.span_id == mine.context.span_id
    response_id = fake.responses[0].response_id
    assert attrs_of(native)[a.GEN_AI_RESPONSE_ID] == attrs_of(mine)[a.GEN_AI_RESPONSE_ID]
    assert attrs_of(mine)[a.GEN_AI_RESPONSE_ID] == response_id
    [line] = all_lines(sessions_dir)
    usage = fake.responses[0].usage
    assert usage is not None
    assert (line["session_id"], line["message_count"]) == ("dup", 2)
    assert (line["input_tokens"], line["output_tokens"]) == (
        usage["input_tokens"],
        usage["output_tokens"],
    )


def test_async_with_and_a_provider_error(
    fake: FakeProvider,
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
) -> None:
    """`async with llm_call` around real async clients: a success is one line; a
    provider error propagates unchanged and marks the span, which writes no line."""

    async def main() -> BaseException | None:
        gpt = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)
        raised: BaseException | None = None
        async with session("async", message_count=1):
            async with llm_call(
                model=GPT, provider="openai", tracer_provider=session_tracer_provider
            ) as call:
                assert trace.get_current_span() is call.span
                completion = await gpt.chat.completions.create(
                    model=GPT, messages=[{"role": "user", "content": "hello async"}]
                )
                call.record(completion)
            fake.fail_next(status=529)
            try:
                async with llm_call(
                    model=GPT, provider="openai", tracer_provider=session_tracer_provider
                ):
                    await gpt.chat.completions.create(
                        model=GPT, messages=[{"role": "user", "content": "fails"}]
                    )
            except openai.APIStatusError as error:
                raised = error
        await gpt.close()
        return raised

    error = asyncio.run(main())
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == 529
    ok, failed = ours(span_exporter)
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs_of(failed)[a.ERROR_TYPE] == type(error).__qualname__
    assert [event.name for event in failed.events] == ["exception"]
    [line] = log_lines(sessions_dir, "async")
    usage = fake.responses[0].usage
    assert usage is not None
    assert line["output_tokens"] == usage["completion_tokens"]


# the block's control flow and our own failures


def test_an_exception_in_the_block_propagates_unchanged_and_marks_the_span(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """The very exception object leaves the block; the span is ERROR with error.type and
    the exception event; without usage there is no line."""
    error = KeyError("lost")
    with (
        pytest.raises(KeyError) as raised,
        llm_call(model="m", provider="anthropic", tracer_provider=session_tracer_provider),
    ):
        raise error
    assert raised.value is error
    [span] = ours(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs_of(span)[a.ERROR_TYPE] == "KeyError"
    assert span.events[0].name == "exception"
    assert all_lines(sessions_dir) == []


def test_the_span_is_current_in_the_block_and_recording_stops_after(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """Inside the block the call's span is current; after it the previous span is back,
    `span` is invalid and the record methods do nothing."""
    outer_tracer = session_tracer_provider.get_tracer("tests")
    with outer_tracer.start_as_current_span("agent turn") as outer:
        handle = llm_call(model="m", provider="anthropic", tracer_provider=session_tracer_provider)
        assert handle.span is trace.INVALID_SPAN
        with handle as call:
            assert trace.get_current_span() is call.span
        assert trace.get_current_span() is outer
    assert call.span is trace.INVALID_SPAN
    assert call.record_usage({"input_tokens": 5}) is None
    call.record_response(id="late", model="late")
    call.record({"id": "late"})
    mine = ours(span_exporter)[0]
    assert a.GEN_AI_RESPONSE_ID not in attrs_of(mine)
    assert mine.parent is not None and outer.get_span_context().span_id == mine.parent.span_id


def test_explicit_message_count_beats_the_session(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """llm_call(message_count=...) is kept; without it the session's count is stamped."""
    with session("counts", message_count=9):
        for count in (4, None):
            with llm_call(
                model="m",
                provider="openai",
                message_count=count,
                tracer_provider=session_tracer_provider,
            ) as call:
                call.record_usage({"prompt_tokens": 3, "completion_tokens": 1})
    assert [attrs_of(s)[a.TOKEN_USAGE_MESSAGE_COUNT] for s in ours(span_exporter)] == [4, 9]


def test_odd_arguments_and_values_never_raise(
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad model, provider, message count, usage and response values: warnings and
    defaults, never an exception; a handle entered twice is still one span."""
    bad: Mapping[str, Any] = {"model": None, "provider": 3, "message_count": -2}
    with llm_call(tracer_provider=session_tracer_provider, **bad) as call, call as again:
        assert again is call
        call.record_usage(object())
        call.record_usage("not usage")
        call.record_response(id=5, model=None)
        call.record(object())
    [span] = ours(span_exporter)
    attrs = attrs_of(span)
    assert span.name == "chat"
    assert attrs[a.GEN_AI_PROVIDER_NAME] == "unknown"
    assert a.TOKEN_USAGE_MESSAGE_COUNT not in attrs
    assert a.GEN_AI_RESPONSE_ID not in attrs
    assert "llm_call: model=None" in caplog.text


def test_global_provider_is_used_and_followed(tmp_path: Path) -> None:
    """Without tracer_provider the global one is used, also when it is set after the
    first call; a tracer_provider that is not one falls back to it with a warning."""
    script = textwrap.dedent(
        """
        import json, sys
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from otel_token_usage import SessionSpanProcessor, TokenUsageSpanExporter
        from otel_token_usage import llm_call, session

        with llm_call(model="before", provider="openai") as call:  # no provider yet
            call.record_usage({"prompt_tokens": 1, "completion_tokens": 1})
        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SessionSpanProcessor())
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(SimpleSpanProcessor(TokenUsageSpanExporter(sys.argv[1])))
        trace.set_tracer_provider(provider)
        with session("global"):
            for given in (None, "not a provider"):
                with llm_call(model="after", provider="openai", tracer_provider=given) as call:
                    call.record_usage({"prompt_tokens": 5, "completion_tokens": 2})
        provider.shutdown()
        print(json.dumps([[s.name, s.instrumentation_scope.name, s.instrumentation_scope.version]
                          for s in memory.get_finished_spans()]))
        """
    )
    sessions = tmp_path / "sessions"
    done = subprocess.run(
        [sys.executable, "-c", script, str(sessions)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    spans = json.loads(done.stdout)
    assert [name for name, _, _ in spans] == ["chat after", "chat after"]
    assert {scope for _, scope, _ in spans} == {"otel_token_usage"}
    assert all(version for _, _, version in spans)
    assert "is not a TracerProvider" in done.stderr
    assert len(log_lines(sessions, "global")) == 2
