"""session() context and SessionSpanProcessor: the right session on every LLM span."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import (
    ActiveSession,
    SessionSpanProcessor,
    TokenBudgetUsage,
    TokenUsageSpanExporter,
    current_session,
    llm_call,
    session,
)
from otel_token_usage import _session as session_module
from otel_token_usage import semconv as a
from otel_token_usage.export._late_sessions import LateSessions, late_sessions
from otel_token_usage.record import BUDGET_FIELDS, LOG_FILE_NAME
from otel_token_usage.testing import FakeClock, FakeProvider

from .helpers import budget_snapshot, read_lines

CLAUDE = "claude-fake-1"
STAMP_NAMES = frozenset(
    {a.GEN_AI_CONVERSATION_ID, a.TOKEN_USAGE_MESSAGE_COUNT, *a.BUDGET_ATTRIBUTES.values()}
)
USAGE: dict[str, AttributeValue] = {
    a.GEN_AI_USAGE_INPUT_TOKENS: 1_500,
    a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1_000,
    a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 200,
    a.GEN_AI_USAGE_OUTPUT_TOKENS: 40,
}


# helpers


def start_span(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    start: Mapping[str, AttributeValue],
    *,
    later: Mapping[str, AttributeValue] | None = None,
) -> ReadableSpan:
    """A span started with `start`, given `later` after starting, then ended."""
    tracer = provider.get_tracer("tests.hand_written")
    with tracer.start_as_current_span("call", kind=SpanKind.CLIENT, attributes=start) as span:
        if later:
            span.set_attributes(later)
    return exporter.get_finished_spans()[-1]


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def assert_budget(attrs: Mapping[str, Any], budget: TokenBudgetUsage) -> None:
    for field in BUDGET_FIELDS:
        assert attrs[a.BUDGET_ATTRIBUTES[field]] == getattr(budget, field), field


def log_lines(sessions_dir: Path, session_id: str) -> list[dict[str, Any]]:
    path = sessions_dir / session_id / LOG_FILE_NAME
    return [json.loads(line) for line in read_lines(path)] if path.exists() else []


def chat() -> dict[str, AttributeValue]:
    return {a.GEN_AI_OPERATION_NAME: "chat", a.GEN_AI_PROVIDER_NAME: "anthropic"}


# the context itself


def test_session_is_current_inside_and_restored_after() -> None:
    """Inside the block the session is current; after it, whatever was before, also
    when the block raises (the exception propagates unchanged)."""
    assert current_session() is None
    budget = budget_snapshot()
    with session("s-1", budget=budget, message_count=4) as active:
        assert current_session() is active
        assert (active.session_id, active.budget, active.message_count) == ("s-1", budget, 4)
    assert current_session() is None
    error = RuntimeError("from the block")
    with pytest.raises(RuntimeError) as raised, session("s-2"):
        raise error
    assert raised.value is error
    assert current_session() is None


def test_nested_sessions_inner_wins_same_id_inherits() -> None:
    """An inner session overrides the outer; with the same id it inherits what it leaves
    out; with another id it inherits nothing; leaving it restores the outer."""
    budget = budget_snapshot()
    with session("outer", budget=budget, message_count=2) as outer:
        with session("outer", message_count=5) as refined:
            assert refined.budget == budget
            assert refined.message_count == 5
        with session("other") as other:
            assert current_session() is other
            assert (other.budget, other.message_count) == (None, None)
        assert current_session() is outer
    assert current_session() is None


def test_active_session_attributes_are_the_stamps() -> None:
    """ActiveSession.attributes: conversation id, message count, the ten budget fields
    (not the snapshot's thinking/cache-read counts), read-only."""
    budget = budget_snapshot()
    with session("s-1", budget=budget, message_count=7) as active:
        stamps = active.attributes
    assert set(stamps) == STAMP_NAMES
    assert stamps[a.GEN_AI_CONVERSATION_ID] == "s-1"
    assert stamps[a.TOKEN_USAGE_MESSAGE_COUNT] == 7
    assert_budget(stamps, budget)
    with pytest.raises(TypeError):
        stamps[a.GEN_AI_CONVERSATION_ID] = "x"  # type: ignore[index]
    assert dict(ActiveSession("bare").attributes) == {a.GEN_AI_CONVERSATION_ID: "bare"}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"session_id": ""}, ValueError),
        ({"session_id": None}, TypeError),
        ({"session_id": "s", "message_count": -1}, ValueError),
        ({"session_id": "s", "message_count": True}, TypeError),
        ({"session_id": "s", "budget": {"system_tokens": 1}}, TypeError),
    ],
)
def test_bad_arguments_raise_at_the_call(arguments: dict[str, Any], error: type[Exception]) -> None:
    """A wrong argument is a programming error reported where it is made."""
    with pytest.raises(error):
        session(**arguments)


def test_async_with_keeps_the_session_across_awaits_and_tasks() -> None:
    """`async with` holds across awaits and into tasks created inside; concurrent tasks
    in different sessions never see each other's."""

    async def one(session_id: str, seen: dict[str, list[str | None]]) -> None:
        async with session(session_id):
            for _ in range(3):
                await asyncio.sleep(0)
                active = current_session()
                seen[session_id].append(active.session_id if active else None)
            child = asyncio.create_task(asyncio.sleep(0, result=current_session()))
            inherited = await child
            seen[session_id].append(inherited.session_id if inherited else None)
        seen[session_id].append(None if current_session() is None else "leaked")

    async def main() -> dict[str, list[str | None]]:
        seen: dict[str, list[str | None]] = {"a": [], "b": []}
        await asyncio.gather(one("a", seen), one("b", seen))
        return seen

    assert asyncio.run(main()) == {"a": ["a"] * 4 + [None], "b": ["b"] * 4 + [None]}


def test_threads_are_isolated_and_copy_context_carries_it() -> None:
    """Two threads in their own sessions at the same time see only their own; a thread
    started inside a session does not inherit it unless the context is copied."""
    barrier = threading.Barrier(2)
    seen: dict[str, str | None] = {}

    def worker(session_id: str) -> None:
        with session(session_id):
            barrier.wait(timeout=10)
            active = current_session()
            seen[session_id] = active.session_id if active else None
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=worker, args=(sid,)) for sid in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"t1": "t1", "t2": "t2"}

    def look(key: str) -> None:
        active = current_session()
        seen[key] = active.session_id if active else None

    with session("parent"):
        plain = threading.Thread(target=look, args=("plain",))
        copied = threading.Thread(target=contextvars.copy_context().run, args=(look, "copied"))
        for thread in (plain, copied):
            thread.start()
            thread.join()
    assert (seen["plain"], seen["copied"]) == (None, "parent")


# the processor on hand-written and third-party spans


def test_hand_written_genai_span_is_stamped_and_logged(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """A hand-written chat span started in a session carries its id, message count and
    budget, and its line lands in that session's log with those values."""
    budget = budget_snapshot()
    with session("s-hand", budget=budget, message_count=11):
        span = start_span(session_tracer_provider, span_exporter, chat(), later=USAGE)
    attrs = attrs_of(span)
    assert attrs[a.GEN_AI_CONVERSATION_ID] == "s-hand"
    assert attrs[a.TOKEN_USAGE_MESSAGE_COUNT] == 11
    assert_budget(attrs, budget)
    assert not any(name.endswith(("thinking_tokens", "cache_read_input_tokens")) for name in attrs)
    [line] = log_lines(sessions_dir, "s-hand")
    assert line["session_id"] == "s-hand"
    assert line["message_count"] == 11
    assert {field: line[field] for field in BUDGET_FIELDS} == {
        field: getattr(budget, field) for field in BUDGET_FIELDS
    }
    assert (line["input_tokens"], line["cache_read_input_tokens"]) == (300, 1_000)


@pytest.mark.parametrize(
    "start",
    [
        {a.GEN_AI_OPERATION_NAME: "chat"},
        {a.GEN_AI_OPERATION_NAME: "text_completion"},
        {a.GEN_AI_OPERATION_NAME: "generate_content"},
        {a.OPENINFERENCE_SPAN_KIND: "LLM"},
        {a.OPENLLMETRY_REQUEST_TYPE: "chat"},
        {a.OPENLLMETRY_REQUEST_TYPE: "completion", a.OPENLLMETRY_SPAN_KIND: "llm"},
    ],
)
def test_every_producers_llm_span_is_stamped(
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    start: dict[str, AttributeValue],
) -> None:
    """GenAI inference operations, OpenInference LLM spans and OpenLLMetry chat or
    completion spans are LLM calls at start: they get every stamp."""
    with session("s-any", budget=budget_snapshot(), message_count=3):
        span = start_span(session_tracer_provider, span_exporter, start)
    assert STAMP_NAMES.issubset(attrs_of(span))


@pytest.mark.parametrize(
    ("start", "later"),
    [
        ({a.GEN_AI_OPERATION_NAME: "invoke_agent"}, USAGE),
        ({a.GEN_AI_OPERATION_NAME: "execute_tool"}, {}),
        ({a.GEN_AI_OPERATION_NAME: "embeddings"}, USAGE),
        ({a.OPENINFERENCE_SPAN_KIND: "CHAIN"}, USAGE),
        ({a.OPENLLMETRY_REQUEST_TYPE: "chat", a.OPENLLMETRY_SPAN_KIND: "workflow"}, USAGE),
        ({a.GEN_AI_OPERATION_NAME: "invoke_agent", a.OPENINFERENCE_SPAN_KIND: "LLM"}, {}),
        ({"http.request.method": "POST"}, {}),
        # Names its operation only after starting: unknowable in on_start.
        ({}, {a.GEN_AI_OPERATION_NAME: "chat", **USAGE}),
    ],
)
def test_other_spans_are_left_untouched(
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    start: dict[str, AttributeValue],
    later: dict[str, AttributeValue],
) -> None:
    """Agent, tool, embeddings, workflow, HTTP spans and spans that say they are a chat
    only after starting get no session id, message count or budget."""
    with session("s-other", budget=budget_snapshot(), message_count=3):
        span = start_span(session_tracer_provider, span_exporter, start, later=later)
    assert STAMP_NAMES.isdisjoint(attrs_of(span))


def test_spans_outside_a_session_are_untouched(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """Without a current session the processor adds nothing."""
    span = start_span(session_tracer_provider, span_exporter, chat(), later=USAGE)
    assert STAMP_NAMES.isdisjoint(attrs_of(span))


@pytest.mark.parametrize("name", [a.GEN_AI_CONVERSATION_ID, a.SESSION_ID])
def test_a_span_naming_another_session_keeps_it_and_gets_nothing(
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
    name: str,
) -> None:
    """The producer's own session wins: the span keeps it, gets no budget or message
    count of the current session, and its line goes to its own session."""
    with session("current", budget=budget_snapshot(), message_count=3):
        span = start_span(
            session_tracer_provider, span_exporter, {**chat(), name: "own"}, later=USAGE
        )
    assert STAMP_NAMES.isdisjoint(set(attrs_of(span)) - {name})
    assert attrs_of(span)[name] == "own"
    assert log_lines(sessions_dir, "current") == []
    [line] = log_lines(sessions_dir, "own")
    assert (line["message_count"], line["system_tokens"]) == (0, 0)


def test_a_span_naming_the_same_session_gets_the_rest_and_keeps_its_own_values(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """Same session id on the span: the missing stamps are added; a message count the
    span started with is not overwritten."""
    budget = budget_snapshot()
    start = {**chat(), a.GEN_AI_CONVERSATION_ID: "same", a.TOKEN_USAGE_MESSAGE_COUNT: 5}
    with session("same", budget=budget, message_count=9):
        span = start_span(session_tracer_provider, span_exporter, start)
    attrs = attrs_of(span)
    assert attrs[a.TOKEN_USAGE_MESSAGE_COUNT] == 5
    assert_budget(attrs, budget)


def test_span_limits_are_respected_like_set_attributes(span_exporter: InMemorySpanExporter) -> None:
    """With or without attribute count and length limits the stamps are exactly what the
    SDK's set_attributes would have kept (truncated id, oldest attributes dropped)."""
    unlimited = TracerProvider()
    unlimited.add_span_processor(SessionSpanProcessor())
    unlimited.add_span_processor(SimpleSpanProcessor(span_exporter))
    with session("s-1", budget=budget_snapshot(), message_count=2) as active:
        stamped = start_span(unlimited, span_exporter, chat())
    by_hand = start_span(unlimited, span_exporter, chat(), later=active.attributes)
    assert attrs_of(stamped) == attrs_of(by_hand)
    assert stamped.dropped_attributes == 0

    limits = SpanLimits(max_span_attributes=6, max_span_attribute_length=4)
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    budget = budget_snapshot()
    with session("session-long", budget=budget, message_count=2) as active:
        stamped = start_span(provider, span_exporter, chat())
    by_hand = start_span(provider, span_exporter, chat(), later=active.attributes)
    assert attrs_of(stamped) == attrs_of(by_hand)
    assert len(attrs_of(stamped)) == 6
    assert stamped.dropped_attributes == by_hand.dropped_attributes > 0
    truncated = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=4))
    truncated.add_span_processor(SessionSpanProcessor())
    truncated.add_span_processor(SimpleSpanProcessor(span_exporter))
    with session("session-long"):
        span = start_span(truncated, span_exporter, chat())
    assert attrs_of(span)[a.GEN_AI_CONVERSATION_ID] == "sess"
    for each in (unlimited, provider, truncated):  # each shuts the shared exporter down
        each.shutdown()


class _RefusingSpan(Span):
    """An SDK span whose set_attributes fails, as a broken SDK extension might."""

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        raise RuntimeError("refused")


def test_on_start_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A span that refuses attributes costs a throttled warning, never an exception."""
    span = _RefusingSpan(
        "chat m",
        context=SpanContext(trace_id=1, span_id=2, is_remote=False),
        attributes={a.GEN_AI_OPERATION_NAME: "chat"},
        limits=SpanLimits(max_span_attributes=1),  # full: forces the public path
    )
    logger = "otel_token_usage.export._session_processor"
    with caplog.at_level(logging.WARNING, logger), session("s"):
        SessionSpanProcessor().on_start(span)
    assert "could not stamp the session" in caplog.text


# the Anthropic SDK's own spans


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(clock=FakeClock(start=1_000.0)) as provider:
        yield provider


def _ask(client: anthropic.Anthropic, text: str) -> anthropic.types.Message:
    return client.messages.create(
        model=CLAUDE,
        max_tokens=256,
        system=[
            {
                "type": "text",
                "text": "You are a careful assistant " * 8,
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
        messages=[{"role": "user", "content": text}],
    )


def assert_line_is_the_call(
    line: dict[str, Any], usage: Mapping[str, Any] | None, session_id: str
) -> None:
    """The line says what the server billed for the call, in `session_id`."""
    assert usage is not None
    assert line["session_id"] == session_id
    assert (line["model"], line["provider"]) == (CLAUDE, "anthropic")
    assert line["input_tokens"] == usage["input_tokens"]
    assert line["cache_read_input_tokens"] == usage["cache_read_input_tokens"]
    assert line["cache_creation_input_tokens"] == usage["cache_creation_input_tokens"]
    split = usage["cache_creation"]
    assert line["cache_creation_5m_input_tokens"] == split["ephemeral_5m_input_tokens"]
    assert line["cache_creation_1h_input_tokens"] == split["ephemeral_1h_input_tokens"]
    assert line["output_tokens"] == usage["output_tokens"]
    assert line["thinking_tokens"] == usage["output_tokens_details"]["thinking_tokens"]


def test_native_anthropic_spans_land_in_their_sessions(
    fake: FakeProvider,
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
) -> None:
    """The Anthropic SDK's own spans (sync, stream=True, messages.stream, async), with
    only SessionSpanProcessor added, put each call in the right session's log with the
    usage the server sent, budget and message count included."""
    client = anthropic.Anthropic(
        base_url=fake.base_url,
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": session_tracer_provider},
    )
    budget = budget_snapshot()
    with session("alpha", budget=budget, message_count=1):
        _ask(client, "first question for alpha")
    with session("beta", message_count=3):
        events = client.messages.create(
            model=CLAUDE,
            max_tokens=256,
            messages=[{"role": "user", "content": "a streamed question"}],
            stream=True,
        )
        for _ in events:
            pass
    with (
        session("alpha", budget=budget, message_count=3),
        client.messages.stream(
            model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "more"}]
        ) as stream,
    ):
        stream.until_done()

    async def async_call() -> None:
        async_client = anthropic.AsyncAnthropic(
            base_url=fake.base_url,
            api_key="test",
            max_retries=0,
            open_telemetry={"tracer_provider": session_tracer_provider},
        )
        async with session("beta", message_count=5):
            await async_client.messages.create(
                model=CLAUDE, max_tokens=256, messages=[{"role": "user", "content": "async"}]
            )
        await async_client.close()

    asyncio.run(async_call())
    client.close()

    native = [
        s for s in span_exporter.get_finished_spans() if s.name == "anthropic.messages.create"
    ]
    assert len(native) == 4
    responses = fake.responses
    alpha, beta = log_lines(sessions_dir, "alpha"), log_lines(sessions_dir, "beta")
    assert (len(alpha), len(beta)) == (2, 2)
    # Calls in order: alpha (JSON), beta (stream=True), alpha (messages.stream), beta (async).
    calls = zip(
        [alpha[0], beta[0], alpha[1], beta[1]],
        ["alpha", "beta", "alpha", "beta"],
        responses,
        [1, 3, 3, 5],
        strict=True,
    )
    for line, session_id, response, count in calls:
        assert_line_is_the_call(line, response.usage, session_id)
        assert line["message_count"] == count
        expected_budget = budget if session_id == "alpha" else None
        for field in BUDGET_FIELDS:
            default = False if field == "truncation_occurred" else 0
            assert line[field] == getattr(expected_budget, field, default), field
    assert [span.attributes[a.GEN_AI_RESPONSE_ID] for span in native if span.attributes] == [
        response.response_id for response in responses
    ]
    span_ids = {f"{s.context.span_id:016x}" for s in native if s.context is not None}
    assert {line["span_id"] for line in alpha + beta} == span_ids


def test_native_span_with_its_own_conversation_id_keeps_it(
    fake: FakeProvider, session_tracer_provider: TracerProvider, sessions_dir: Path
) -> None:
    """A client built with open_telemetry conversation_id names its own session: its
    calls stay there even inside another session(), without that session's budget."""
    client = anthropic.Anthropic(
        base_url=fake.base_url,
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": session_tracer_provider, "conversation_id": "mine"},
    )
    with session("ambient", budget=budget_snapshot(), message_count=4):
        _ask(client, "whose call is this")
    client.close()
    assert log_lines(sessions_dir, "ambient") == []
    [line] = log_lines(sessions_dir, "mine")
    assert_line_is_the_call(line, fake.responses[0].usage, "mine")
    assert (line["message_count"], line["budget_limit"]) == (0, 0)


# spans that say they are an LLM call only when they end (issue 10, item 1)


def test_a_span_that_becomes_a_call_only_when_it_ends_lands_in_its_session(
    session_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path
) -> None:
    """Started with no attributes inside session("late") (as OpenLLMetry's
    openai.response, openlit's and LangChain's spans are), named a chat only later, and
    ended outside the session: its line is in "late" with the session's budget and
    message count. The span itself stays as its producer made it."""
    budget = budget_snapshot()
    with session("late", budget=budget, message_count=7):
        tracer = session_tracer_provider.get_tracer("tests.late")
        span = tracer.start_span("openai.response", kind=SpanKind.CLIENT)
        agent = tracer.start_span("agent")
    span.set_attributes({a.GEN_AI_OPERATION_NAME: "chat", **USAGE})
    span.end()
    agent.set_attributes({a.GEN_AI_OPERATION_NAME: "invoke_agent", **USAGE})
    agent.end()
    [line] = log_lines(sessions_dir, "late")
    assert (line["message_count"], line["budget_limit"]) == (7, budget.budget_limit)
    assert (line["input_tokens"], line["cache_read_input_tokens"]) == (300, 1_000)
    finished = span_exporter.get_finished_spans()
    assert all(STAMP_NAMES.isdisjoint(attrs_of(each)) for each in finished)
    assert not (sessions_dir / "no-session").exists()


@pytest.mark.parametrize("override", [False, True])
def test_a_late_span_naming_its_own_session_follows_the_same_rules(
    session_tracer_provider: TracerProvider, sessions_dir: Path, override: bool
) -> None:
    """A late span that names another conversation keeps it (and gets no budget),
    unless the session was entered with override=True."""
    with session("ambient", message_count=4, override=override):
        span = session_tracer_provider.get_tracer("tests.late").start_span("chat")
    span.set_attributes({a.GEN_AI_OPERATION_NAME: "chat", a.GEN_AI_CONVERSATION_ID: "own", **USAGE})
    span.end()
    winner, loser = ("ambient", "own") if override else ("own", "ambient")
    [line] = log_lines(sessions_dir, winner)
    assert line["message_count"] == (4 if override else 0)
    assert log_lines(sessions_dir, loser) == []


def test_late_sessions_are_bounded_and_forget_spans_that_are_no_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At most max_started open spans are remembered (the oldest dropped, with a
    warning); an ended span is kept for the exporter only if it became an LLM call, and
    taken once."""
    late = LateSessions(max_started=2, max_ended=2)
    one, two, three = ActiveSession("1"), ActiveSession("2"), ActiveSession("3")
    with caplog.at_level(logging.WARNING, "otel_token_usage.export._late_sessions"):
        late.started(1, one)
        late.started(2, two)
        late.started(3, three)
    assert "more than 2 spans open inside sessions" in caplog.text
    call = {a.GEN_AI_OPERATION_NAME: "chat", **USAGE}
    late.ended(1, call)  # forgotten already
    late.ended(2, {a.GEN_AI_OPERATION_NAME: "invoke_agent", **USAGE})  # not a call
    late.ended(3, call)
    assert (late.take(1), late.take(2), late.take(3), late.take(3)) == (None, None, three, None)
    for span_id in range(10, 15):
        late.started(span_id, one)
        late.ended(span_id, call)
    assert [late.take(span_id) for span_id in range(10, 15)] == [None, None, None, one, one]
    assert not late.pending()


def test_a_forked_child_ends_its_parents_span_in_the_session(
    session_tracer_provider: TracerProvider, sessions_dir: Path
) -> None:
    """Forked while another thread holds the registry's locks, the child does not hang:
    it ends a span the parent started in a session, and its line is in that session."""
    with session("forked", message_count=2):
        span = session_tracer_provider.get_tracer("tests.fork").start_span("chat")
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with late_sessions._started_lock, late_sessions._ended_lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: end the span, export, report by exit status
        code = 1
        try:
            span.set_attributes({a.GEN_AI_OPERATION_NAME: "chat", **USAGE})
            span.end()
            code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if done == (0, 0):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    [line] = log_lines(sessions_dir, "forked")
    assert line["message_count"] == 2
    span.end()  # the parent's copy, never named a chat here: no line
    assert len(log_lines(sessions_dir, "forked")) == 1


# session() without a SessionSpanProcessor (issue 9, item 11)


@pytest.fixture
def fresh_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if no session had been entered yet in this process, and no processor made."""
    monkeypatch.setattr(session_module, "_warned", False)
    monkeypatch.setattr(session_module, "_processors", 0)


def test_a_session_without_a_processor_warns_once(
    fresh_warning: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Entering a session while no SessionSpanProcessor exists says so, once per
    process; with a processor (created, not shut down) nothing is said."""
    with caplog.at_level(logging.WARNING, "otel_token_usage._session"):
        processor = SessionSpanProcessor()
        with session("quiet"):
            pass
        assert caplog.text == ""
        processor.shutdown()
        processor.shutdown()
        with session("a"), session("b"):
            pass
        with session("c"):
            pass
    [record] = caplog.records
    assert "no SessionSpanProcessor exists" in record.getMessage()


def test_our_spans_carry_the_session_without_a_processor(
    fresh_warning: None, sessions_dir: Path
) -> None:
    """llm_call (and through LLMCallSpan every instrumentor of ours) takes the session,
    budget and message count from the context itself."""
    exporter = TokenUsageSpanExporter(sessions_dir)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    budget = budget_snapshot()
    with session("self-made", budget=budget, message_count=3):
        with llm_call(model="m", provider="p", tracer_provider=provider) as call:
            call.record_usage({"input_tokens": 10, "output_tokens": 2})
        with llm_call(model="m", provider="p", message_count=9, tracer_provider=provider) as call:
            call.record_usage({"input_tokens": 10, "output_tokens": 2})
    provider.shutdown()
    lines = log_lines(sessions_dir, "self-made")
    assert [line["message_count"] for line in lines] == [3, 9]
    assert all(line["budget_limit"] == budget.budget_limit for line in lines)


# a producer's own conversation ids (issue 10, item 6)


@pytest.mark.parametrize("override", [False, True])
def test_override_makes_the_session_win_over_a_spans_own_id(
    session_tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    sessions_dir: Path,
    override: bool,
) -> None:
    """A span starting with its own conversation id (pydantic-ai's per-run UUID7) keeps
    it by default; under session(..., override=True) the session's id replaces it on the
    span, and the span gets the budget and message count."""
    budget = budget_snapshot()
    start = {**chat(), a.GEN_AI_CONVERSATION_ID: "0199-run-uuid"}
    with (
        session("chat-42", budget=budget, message_count=6, override=override),
        session("chat-42", message_count=8),  # refines: inherits override
    ):
        span = start_span(session_tracer_provider, span_exporter, start, later=USAGE)
    attrs = attrs_of(span)
    if override:
        assert attrs[a.GEN_AI_CONVERSATION_ID] == "chat-42"
        assert attrs[a.TOKEN_USAGE_MESSAGE_COUNT] == 8
        assert_budget(attrs, budget)
        assert len(log_lines(sessions_dir, "chat-42")) == 1
    else:
        assert attrs[a.GEN_AI_CONVERSATION_ID] == "0199-run-uuid"
        assert log_lines(sessions_dir, "chat-42") == []
        assert len(log_lines(sessions_dir, "0199-run-uuid")) == 1
