"""OpenAIInstrumentor: real openai clients (sync and async) against the fake provider,
through a real TracerProvider into the in-memory exporter and TokenUsageSpanExporter.

Every call is checked twice against what the server sent (`fake.responses[i].usage`):
the span's attributes, and the session-log line the exporter wrote for it.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import openai
import pytest
from openai.resources.chat import AsyncCompletions, Completions
from openai.resources.responses import AsyncResponses, Responses
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenUsageSpanExporter, session
from otel_token_usage import semconv as a
from otel_token_usage.export import SessionSpanProcessor, extract_record
from otel_token_usage.instrumentation.openai import OpenAIInstrumentor
from otel_token_usage.record import BUDGET_FIELDS, format_ts, session_dir_name
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION
from otel_token_usage.testing import FakeClock, FakeProvider, RecordedResponse

Mode = Literal["sync", "async"]
Api = Literal["chat", "responses"]
T = TypeVar("T")

GPT = "gpt-fake-1"
ROOT = Path(__file__).resolve().parent.parent
MODES = pytest.mark.parametrize("mode", ["sync", "async"])
APIS = pytest.mark.parametrize("api", ["chat", "responses"])

SYSTEM = {"role": "system", "content": "You are a careful assistant for the tests."}
TURN_1 = [SYSTEM, {"role": "user", "content": "Tell me about prompt caches."}]
TURN_2 = [
    *TURN_1,
    {"role": "assistant", "content": "They keep a prefix of the prompt warm."},
    {"role": "user", "content": "And how long do they last?"},
]


# --- fixtures -------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(clock=FakeClock()) as provider:
        yield provider


@pytest.fixture
def pipeline(tracer_provider: TracerProvider, exporter: TokenUsageSpanExporter) -> TracerProvider:
    """The conftest provider (in-memory exporter) plus our session-log exporter."""
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider


@dataclass(frozen=True)
class Out:
    """Where a test reads what the instrumentation produced."""

    provider: TracerProvider
    exporter: InMemorySpanExporter
    sessions_dir: Path

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def lines(self) -> list[dict[str, Any]]:
        return log_lines(self.sessions_dir)


@pytest.fixture
def out(pipeline: TracerProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path) -> Out:
    """The in-memory spans and session logs of `pipeline`."""
    return Out(pipeline, span_exporter, sessions_dir)


@pytest.fixture
def instrument(pipeline: TracerProvider) -> Iterator[Callable[[], None]]:
    """Instruments on demand; always uninstruments afterwards (the patch is global)."""
    instrumentor = OpenAIInstrumentor()

    def on() -> None:
        instrumentor.instrument(tracer_provider=pipeline)

    yield on
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.fixture
def instrumented(instrument: Callable[[], None]) -> None:
    instrument()


# --- helpers --------------------------------------------------------------------


def run(
    mode: Mode,
    fake: FakeProvider,
    sync: Callable[[openai.OpenAI], T],
    async_: Callable[[openai.AsyncOpenAI], Awaitable[T]],
) -> T:
    """Run a scenario with a real sync or async client (no SDK retries)."""
    if mode == "sync":
        with openai.OpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0) as c:
            return sync(c)

    async def main() -> T:
        async with openai.AsyncOpenAI(
            base_url=fake.openai_base_url, api_key="test", max_retries=0
        ) as client:
            return await async_(client)

    return asyncio.run(main())


def resource(client: openai.OpenAI | openai.AsyncOpenAI, api: Api) -> Any:
    return client.chat.completions if api == "chat" else client.responses


def request(api: Api, turn: int) -> dict[str, Any]:
    """Turn 1 or 2 of a conversation (turn 2 repeats turn 1 as its prefix), reasoning on.
    Responses: the system message as `instructions`, turn 1's input a plain string."""
    messages = TURN_1 if turn == 1 else TURN_2
    if api == "chat":
        return {"model": GPT, "messages": messages, "reasoning_effort": "low"}
    items: str | list[dict[str, str]] = messages[1]["content"] if turn == 1 else messages[1:]
    return {
        "model": GPT,
        "instructions": SYSTEM["content"],
        "input": items,
        "reasoning": {"effort": "low"},
    }


def message_count(api: Api, turn: int) -> int:
    """What the span should count: request messages (Chat) or input items (Responses)."""
    if api == "chat":
        return len(TURN_1 if turn == 1 else TURN_2)
    return 1 if turn == 1 else len(TURN_2) - 1  # a string input is one item


def create(mode: Mode, fake: FakeProvider, api: Api, **kwargs: Any) -> Any:
    """`create(**kwargs)`; the result as the caller gets it."""

    async def acall(client: openai.AsyncOpenAI) -> Any:
        return await resource(client, api).create(**kwargs)

    return run(mode, fake, lambda client: resource(client, api).create(**kwargs), acall)


def stream(mode: Mode, fake: FakeProvider, api: Api, **kwargs: Any) -> list[Any]:
    """`create(stream=True, **kwargs)`, read to the end: every item the caller sees."""

    async def acall(client: openai.AsyncOpenAI) -> list[Any]:
        return [item async for item in await resource(client, api).create(stream=True, **kwargs)]

    return run(
        mode, fake, lambda client: list(resource(client, api).create(stream=True, **kwargs)), acall
    )


def log_lines(
    sessions_dir: Path, session_id: str = DEFAULT_FALLBACK_SESSION
) -> list[dict[str, Any]]:
    """The lines of a session's log (by default, where calls without a session go)."""
    path = sessions_dir / session_dir_name(session_id) / "token-usage.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """Inclusive input, output, cache read and reasoning, as the server reported them."""
    if "prompt_tokens" in usage:
        return {
            "input": usage["prompt_tokens"],
            "output": usage["completion_tokens"],
            "cache_read": usage["prompt_tokens_details"]["cached_tokens"],
            "reasoning": usage["completion_tokens_details"]["reasoning_tokens"],
        }
    return {
        "input": usage["input_tokens"],
        "output": usage["output_tokens"],
        "cache_read": usage["input_tokens_details"]["cached_tokens"],
        "reasoning": usage["output_tokens_details"]["reasoning_tokens"],
    }


def check_call(
    span: ReadableSpan,
    line: Mapping[str, Any],
    sent: RecordedResponse,
    *,
    messages: int,
    session_id: str | None = None,
) -> None:
    """The span and its log line say exactly what the server sent for this call."""
    assert sent.usage is not None
    n = counts(sent.usage)
    assert span.name == f"chat {GPT}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    expected: dict[str, AttributeValue] = {
        a.GEN_AI_OPERATION_NAME: "chat",
        a.GEN_AI_PROVIDER_NAME: "openai",
        a.GEN_AI_REQUEST_MODEL: GPT,
        a.TOKEN_USAGE_MESSAGE_COUNT: messages,
        a.GEN_AI_RESPONSE_ID: str(sent.response_id),
        a.GEN_AI_RESPONSE_MODEL: str(sent.model),
        a.GEN_AI_USAGE_INPUT_TOKENS: n["input"],
        a.GEN_AI_USAGE_OUTPUT_TOKENS: n["output"],
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: n["cache_read"],
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: n["reasoning"],
    }
    if session_id is not None:
        expected[a.GEN_AI_CONVERSATION_ID] = session_id
    assert dict(span.attributes or {}) == expected

    assert span.context is not None and span.end_time is not None
    assert line["ts"] == format_ts(span.end_time)
    assert line["session_id"] == (session_id or DEFAULT_FALLBACK_SESSION)
    assert line["model"] == sent.model
    assert line["provider"] == "openai"
    assert line["message_count"] == messages
    assert line["cache_creation_input_tokens"] == 0
    assert line["cache_read_input_tokens"] == n["cache_read"]
    assert line["input_tokens"] == n["input"] - n["cache_read"]
    assert line["output_tokens"] == n["output"]
    assert line["thinking_tokens"] == n["reasoning"]
    assert all(line[field] in (0, False) for field in BUDGET_FIELDS)
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")


def check_two_turns(fake: FakeProvider, out: Out, api: Api) -> None:
    """Two calls, two spans, two lines, each matching its own server response; the
    second call read the first one's prefix from the cache and reasoned."""
    finished = out.spans()
    lines = out.lines()
    assert len(finished) == len(lines) == 2
    for turn, (span, line) in enumerate(zip(finished, lines, strict=True), start=1):
        check_call(span, line, fake.responses[turn - 1], messages=message_count(api, turn))
    warm = fake.responses[1].usage
    assert warm is not None
    assert counts(warm)["cache_read"] > 0 and counts(warm)["reasoning"] > 0


def check_no_usage(span: ReadableSpan, out: Out) -> None:
    """A call whose usage never arrived: no usage attribute, so no line."""
    attrs = span.attributes or {}
    assert a.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert a.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs
    assert extract_record(span) is None
    assert out.lines() == []


def without_id(item: Any) -> dict[str, Any]:
    data: dict[str, Any] = item.to_dict()
    data.pop("id")
    return data


# --- non-streaming --------------------------------------------------------------


@MODES
@APIS
@pytest.mark.usefixtures("instrumented")
def test_json_calls_record_the_usage_the_server_sent(
    mode: Mode,
    api: Api,
    fake: FakeProvider,
    out: Out,
) -> None:
    """Chat and Responses JSON calls: one span and one line each, exact usage; the
    caller's result is the SDK's own."""
    results = [create(mode, fake, api, **request(api, turn)) for turn in (1, 2)]
    check_two_turns(fake, out, api)
    for result, sent in zip(results, fake.responses, strict=True):
        expected_type = (
            openai.types.chat.ChatCompletion if api == "chat" else openai.types.responses.Response
        )
        assert type(result) is expected_type
        assert result.id == sent.response_id
        assert result.usage is not None and result.usage.to_dict() == sent.usage


@pytest.mark.usefixtures("instrumented")
def test_with_raw_response_records_usage_and_leaves_parse_to_the_caller(
    fake: FakeProvider, out: Out
) -> None:
    """`with_raw_response.create` still gets exact usage; the caller's `parse()` works."""
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="test") as client:
        raw = client.chat.completions.with_raw_response.create(**request("chat", 1))
        assert raw.parse().usage.prompt_tokens == counts(fake.responses[-1].usage or {})["input"]
    (span,) = out.spans()
    (line,) = out.lines()
    check_call(span, line, fake.responses[-1], messages=2)


# --- streaming ------------------------------------------------------------------


@MODES
@pytest.mark.usefixtures("instrumented")
def test_chat_stream_with_include_usage_passes_everything_through(
    mode: Mode, fake: FakeProvider, out: Out
) -> None:
    """A stream that asked for usage is left alone: same request, usage chunk shown."""
    options = {"include_usage": True}
    for turn in (1, 2):
        chunks = stream(mode, fake, "chat", stream_options=options, **request("chat", turn))
        sent = fake.responses[-1]
        assert fake.requests[-1].body is not None
        assert fake.requests[-1].body["stream_options"] == {"include_usage": True}
        assert len(chunks) == (sent.events_sent or 0) - 1  # all but `data: [DONE]`
        assert chunks[-1].choices == [] and chunks[-1].usage.to_dict() == sent.usage
        assert all("usage" in chunk.to_dict() for chunk in chunks)
    check_two_turns(fake, out, "chat")


@MODES
def test_chat_stream_without_include_usage_still_records_usage_and_hides_it(
    mode: Mode,
    instrument: Callable[[], None],
    fake: FakeProvider,
    out: Out,
) -> None:
    """Without include_usage we ask for usage, and the caller sees exactly the chunks an
    uninstrumented client gets (count and content), none of them carrying usage."""
    plain = [stream(mode, fake, "chat", **request("chat", turn)) for turn in (1, 2)]
    assert all("stream_options" not in (r.body or {}) for r in fake.requests)
    fake.clear_cache()
    fake.clear_records()
    instrument()
    seen = [stream(mode, fake, "chat", **request("chat", turn)) for turn in (1, 2)]

    for sent_request in fake.requests:
        assert sent_request.body is not None
        assert sent_request.body["stream_options"] == {"include_usage": True}
    for ours, theirs in zip(seen, plain, strict=True):
        assert len(ours) == len(theirs)
        assert [without_id(c) for c in ours] == [without_id(c) for c in theirs]
        assert all(chunk.usage is None and "usage" not in chunk.to_dict() for chunk in ours)
    check_two_turns(fake, out, "chat")


@pytest.mark.usefixtures("instrumented")
def test_chat_stream_keeps_the_callers_other_stream_options(fake: FakeProvider) -> None:
    """Asking for usage adds `include_usage` beside the caller's options, in a copy."""
    options = {"include_obfuscation": False}
    stream("sync", fake, "chat", stream_options=options, **request("chat", 1))
    assert fake.requests[-1].body is not None
    assert fake.requests[-1].body["stream_options"] == {
        "include_obfuscation": False,
        "include_usage": True,
    }
    assert options == {"include_obfuscation": False}


@MODES
@pytest.mark.usefixtures("instrumented")
def test_responses_stream_records_usage_of_response_completed(
    mode: Mode, fake: FakeProvider, out: Out
) -> None:
    """Responses streams: every event reaches the caller; usage from response.completed."""
    for turn in (1, 2):
        events = stream(mode, fake, "responses", **request("responses", turn))
        sent = fake.responses[-1]
        assert len(events) == sent.events_sent
        assert events[-1].type == "response.completed"
        assert events[-1].response.usage.to_dict() == sent.usage
    check_two_turns(fake, out, "responses")


@pytest.mark.usefixtures("instrumented")
def test_sdk_stream_helpers_are_traced_through_create(fake: FakeProvider, out: Out) -> None:
    """`chat.completions.stream()` and `responses.stream()` call `create`: traced, and
    the chat helper's result has no usage, as it would uninstrumented."""
    with openai.OpenAI(base_url=fake.openai_base_url, api_key="test") as client:
        with client.chat.completions.stream(**request("chat", 1)) as chat:
            for _ in chat:
                pass
            assert chat.get_final_completion().usage is None
        chat_sent = fake.responses[-1]
        with client.responses.stream(**request("responses", 1)) as responses:
            for _ in responses:
                pass
            final_usage = responses.get_final_response().usage
            assert final_usage is not None
            assert final_usage.to_dict() == fake.responses[-1].usage
    chat_span, responses_span = out.spans()
    chat_line, responses_line = out.lines()
    check_call(chat_span, chat_line, chat_sent, messages=2)
    check_call(responses_span, responses_line, fake.responses[-1], messages=1)


@MODES
@pytest.mark.parametrize("session_count", [None, 42])
def test_calls_in_a_session_land_in_its_log(
    mode: Mode,
    session_count: int | None,
    instrument: Callable[[], None],
    fake: FakeProvider,
    out: Out,
) -> None:
    """Inside `session()`, with `SessionSpanProcessor`, a call's span and line carry the
    session id, and the session's message count when it gives one, else the request's."""
    out.provider.add_span_processor(SessionSpanProcessor())
    instrument()
    with session("openai-session", message_count=session_count):
        create(mode, fake, "chat", **request("chat", 2))
        stream(mode, fake, "responses", **request("responses", 2))
    counts_ = [session_count or message_count(api, 2) for api in ("chat", "responses")]
    spans = out.spans()
    lines = log_lines(out.sessions_dir, "openai-session")
    assert len(spans) == len(lines) == 2 and out.lines() == []
    for span, line, sent, count in zip(spans, lines, fake.responses, counts_, strict=True):
        check_call(span, line, sent, messages=count, session_id="openai-session")


# --- streams that do not finish -------------------------------------------------


@MODES
@APIS
@pytest.mark.parametrize("how", ["close", "with", "gc"])
@pytest.mark.usefixtures("instrumented")
def test_stream_abandoned_after_its_first_item_ends_its_span_once(
    mode: Mode,
    api: Api,
    how: str,
    fake: FakeProvider,
    out: Out,
) -> None:
    """A stream dropped after one item (closed, left in `with`, or garbage-collected)
    ends its span exactly once, with the response id and no usage (none arrived)."""

    def sync(client: openai.OpenAI) -> None:
        items = resource(client, api).create(stream=True, **request(api, 1))
        if how == "with":
            with items as entered:
                assert entered is items
                next(entered)
        else:
            next(items)
            assert out.spans() == ()
            if how == "close":
                items.close()
        del items
        gc.collect()

    async def async_(client: openai.AsyncOpenAI) -> None:
        items = await resource(client, api).create(stream=True, **request(api, 1))
        if how == "with":
            async with items as entered:
                assert entered is items
                await entered.__anext__()
        else:
            await items.__anext__()
            assert out.spans() == ()
            if how == "close":
                await items.close()
        del items
        gc.collect()

    run(mode, fake, sync, async_)
    gc.collect()
    (span,) = out.spans()
    assert span.status.status_code is StatusCode.UNSET
    assert (span.attributes or {})[a.GEN_AI_RESPONSE_ID] == fake.responses[-1].response_id
    check_no_usage(span, out)


@MODES
@pytest.mark.usefixtures("instrumented")
def test_chat_stream_broken_midway_raises_the_sdk_error_and_fails_the_span(
    mode: Mode, fake: FakeProvider, out: Out
) -> None:
    """A connection cut mid-stream raises the SDK's APIConnectionError to the caller;
    the span ends once, as an error."""
    fake.break_stream_after(2)
    with pytest.raises(openai.APIConnectionError):
        stream(mode, fake, "chat", **request("chat", 1))
    assert fake.responses[-1].broken
    (span,) = out.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[a.ERROR_TYPE] == "APIConnectionError"
    check_no_usage(span, out)


@MODES
@pytest.mark.usefixtures("instrumented")
def test_responses_stream_error_event_fails_the_span(
    mode: Mode, fake: FakeProvider, out: Out
) -> None:
    """A Responses `error` event reaches the caller as the SDK yields it, and marks the
    span as an error with the event's code."""
    fake.break_stream_after(2, error="server_error")
    events = stream(mode, fake, "responses", **request("responses", 1))
    assert events[-1].type == "error"
    (span,) = out.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[a.ERROR_TYPE] == "server_error"
    check_no_usage(span, out)


# --- errors ---------------------------------------------------------------------


@MODES
@APIS
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.usefixtures("instrumented")
def test_provider_error_propagates_and_marks_the_span(
    mode: Mode,
    api: Api,
    streamed: bool,
    fake: FakeProvider,
    out: Out,
) -> None:
    """An HTTP error reaches the caller as the SDK's own exception type; the span is
    an error with that type and the exception recorded, and no line is written."""
    fake.fail_next(status=429)
    with pytest.raises(openai.RateLimitError) as info:
        create(mode, fake, api, **request(api, 1), **({"stream": True} if streamed else {}))
    assert fake.responses[-1].status == 429
    (span,) = out.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[a.ERROR_TYPE] == "RateLimitError"
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.message"] == str(info.value)
    check_no_usage(span, out)


class _Exploding(SpanProcessor):
    """A span processor that fails where told: the instrumentation must absorb it."""

    def __init__(self, *, on_start: bool = False, on_end: bool = False) -> None:
        self._on_start, self._on_end = on_start, on_end

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._on_start:
            raise RuntimeError("processor failed in on_start")

    def on_end(self, span: ReadableSpan) -> None:
        if self._on_end:
            raise RuntimeError("processor failed in on_end")


@pytest.mark.parametrize("where", ["on_start", "on_end"])
def test_failures_of_the_instrumentation_never_reach_the_caller(
    where: str, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """When tracing itself fails (here: a span processor raising), JSON and streamed
    calls still return the SDK's results, and a warning is logged instead."""
    provider = TracerProvider()
    provider.add_span_processor(_Exploding(**{where: True}))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with caplog.at_level(logging.WARNING, logger="otel_token_usage"):
            result = create("sync", fake, "chat", **request("chat", 1))
            chunks = stream("sync", fake, "chat", **request("chat", 1))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert result.usage is not None and result.usage.to_dict() == fake.responses[0].usage
    assert len(chunks) >= 3 and all(chunk.usage is None for chunk in chunks)
    if where == "on_start":
        # Untraced, the stream was not asked for usage.
        assert "stream_options" not in (fake.requests[-1].body or {})
        assert any("could not start a span" in r.getMessage() for r in caplog.records)


# --- installing and removing ----------------------------------------------------


def test_uninstrument_restores_the_original_methods(
    fake: FakeProvider, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """instrument() patches the four `create` methods; uninstrument() puts back the very
    same function objects, and calls are no longer traced."""
    classes = (Completions, AsyncCompletions, Responses, AsyncResponses)
    originals = [cls.__dict__["create"] for cls in classes]
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        patched = [cls.__dict__["create"] for cls in classes]
        assert all(p is not o for p, o in zip(patched, originals, strict=True))
        assert all(p.__wrapped__ is o for p, o in zip(patched, originals, strict=True))
    finally:
        instrumentor.uninstrument()
    assert all(cls.__dict__["create"] is o for cls, o in zip(classes, originals, strict=True))
    create("sync", fake, "chat", **request("chat", 1))
    assert span_exporter.get_finished_spans() == ()


def test_entry_point_names_the_instrumentor() -> None:
    """pyproject registers `openai_token_usage` under `opentelemetry_instrumentor`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["entry-points"]["opentelemetry_instrumentor"]["openai_token_usage"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is OpenAIInstrumentor
    assert OpenAIInstrumentor().instrumentation_dependencies() == ("openai >= 1.40",)


_GLOBAL_PROVIDER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import openai
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from otel_token_usage import TokenUsageSpanExporter
    from otel_token_usage.instrumentation.openai import OpenAIInstrumentor
    from otel_token_usage.testing import FakeProvider

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(TokenUsageSpanExporter(sys.argv[1])))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument()  # no tracer_provider: the global one
    with FakeProvider() as fake:
        with openai.OpenAI(base_url=fake.openai_base_url, api_key="test") as client:
            chunks = list(client.chat.completions.create(
                model="gpt-fake-1", stream=True,
                messages=[{"role": "user", "content": "hello from a subprocess"}],
            ))
        sent = fake.responses[-1]
    provider.shutdown()
    print(json.dumps({"usage": sent.usage, "chunks": len(chunks), "events": sent.events_sent}))
    """
)


def test_global_tracer_provider_is_used_when_none_is_given(tmp_path: Path) -> None:
    """In a fresh process, `instrument()` without a provider traces to the global one:
    the streamed call lands in the session log with the usage the server sent."""
    sessions = tmp_path / "sessions"
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER_SCRIPT, str(sessions)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    n = counts(report["usage"])
    # Usage was asked for and hidden: the caller got all but the usage chunk and [DONE].
    assert report["chunks"] == report["events"] - 2
    (line,) = log_lines(sessions)
    assert line["provider"] == "openai" and line["message_count"] == 1
    assert line["input_tokens"] == n["input"] - n["cache_read"]
    assert line["cache_read_input_tokens"] == n["cache_read"]
    assert line["output_tokens"] == n["output"]
    assert line["thinking_tokens"] == n["reasoning"]
