"""The fake provider: the real anthropic/openai SDKs parse it, and its cache follows the rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import anthropic
import httpx2
import openai
import pytest
from anthropic.types import Message, MessageParam, TextBlockParam, ThinkingConfigParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam

from otel_token_usage.testing import FakeClock, FakeProvider, RecordedResponse, count_tokens

CLAUDE = "claude-fake-1"
GPT = "gpt-fake-1"
SYSTEM_TEXT = "You are a careful assistant that answers briefly. " * 6  # 48 words
FIRST_QUESTION = "Please summarise the quarterly report for the board. " * 4  # 32 words
REPLY_TOKENS = count_tokens(FakeProvider().reply)

Ttl = Literal["5m", "1h"]


# request builders


def system(ttl: Ttl | None = "1h") -> list[TextBlockParam]:
    block: TextBlockParam = {"type": "text", "text": SYSTEM_TEXT}
    if ttl is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": ttl}
    return [block]


def user(text: str, *, breakpoint: Ttl | None = None) -> MessageParam:
    block: TextBlockParam = {"type": "text", "text": text}
    if breakpoint is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": breakpoint}
    return {"role": "user", "content": [block]}


def assistant(text: str) -> MessageParam:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def chat(*texts: str) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": SYSTEM_TEXT}]
    for position, text in enumerate(texts):
        if position % 2:
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": "user", "content": text})
    return messages


def split(response: RecordedResponse) -> tuple[int, int, int, int]:
    """(fresh input, cache read, 5m write, 1h write) of what the server sent."""
    usage = response.usage
    assert usage is not None
    creation = usage["cache_creation"]
    return (
        usage["input_tokens"],
        usage["cache_read_input_tokens"],
        creation["ephemeral_5m_input_tokens"],
        creation["ephemeral_1h_input_tokens"],
    )


def sent_usage(fake: FakeProvider) -> dict[str, Any]:
    usage = fake.responses[-1].usage
    assert usage is not None
    return usage


# fixtures


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_000.0)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeProvider]:
    with FakeProvider(clock=clock) as provider:
        yield provider


@pytest.fixture
def claude(fake: FakeProvider) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(
        base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=False
    )
    yield client
    client.close()


@pytest.fixture
def gpt(fake: FakeProvider) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)
    yield client
    client.close()


def ask(
    claude: anthropic.Anthropic,
    messages: list[MessageParam],
    *,
    system: list[TextBlockParam] | anthropic.Omit = anthropic.omit,
    thinking: ThinkingConfigParam | anthropic.Omit = anthropic.omit,
) -> Message:
    return claude.messages.create(
        model=CLAUDE, max_tokens=1024, messages=messages, system=system, thinking=thinking
    )


# clock and token rule


def test_fake_clock_moves_only_forward() -> None:
    """A FakeClock returns its time when called and moves only by advance(), never back."""
    clock = FakeClock(start=5.0)
    assert clock() == 5.0
    assert clock.advance(2.5) == 7.5
    assert clock() == 7.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_token_rule_counts_words() -> None:
    """One token per whitespace-separated word; empty text costs nothing."""
    assert count_tokens("one two  three\nfour\tfive") == 5
    assert count_tokens("") == 0
    assert count_tokens("   ") == 0


def test_count_tokens_endpoint_uses_the_rule(claude: anthropic.Anthropic) -> None:
    """messages.count_tokens reports the words of system, tools and messages, markup excluded."""
    tool: ToolParam = {
        "name": "lookup",
        "description": "find a word",
        "input_schema": {"type": "object"},
    }
    counted = claude.messages.count_tokens(
        model=CLAUDE, system=system(), messages=[user("hello there")], tools=[tool]
    )
    assert counted.input_tokens == count_tokens(SYSTEM_TEXT) + 2 + 1 + 3


# Anthropic: JSON responses and the cache rules


def test_anthropic_json_parses_and_matches_the_recorded_usage(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """The SDK's Usage is exactly what the server recorded; ids, model, text are as planned."""
    message = ask(claude, [user(FIRST_QUESTION, breakpoint="5m")], system=system())
    record = fake.responses[-1]
    assert message.usage.model_dump(exclude_none=True) == record.usage
    assert record.usage == record.billed_usage
    assert message.id == record.response_id
    assert message.model == CLAUDE
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text == fake.reply
    assert message.usage.output_tokens == REPLY_TOKENS
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == 0


def test_anthropic_first_call_writes_and_repeat_reads(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """First call writes each breakpoint's segment to its TTL bucket; the repeat reads it all."""
    sys_tokens, question = count_tokens(SYSTEM_TEXT), count_tokens(FIRST_QUESTION)
    messages = [user(FIRST_QUESTION, breakpoint="5m")]
    ask(claude, messages, system=system("1h"))
    assert split(fake.responses[-1]) == (0, 0, question, sys_tokens)
    ask(claude, messages, system=system("1h"))
    assert split(fake.responses[-1]) == (0, sys_tokens + question, 0, 0)
    usage = sent_usage(fake)
    assert usage["cache_creation_input_tokens"] == 0


def test_anthropic_tokens_after_the_last_breakpoint_are_fresh(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """Only the prefix up to a breakpoint is cached; the rest is fresh input every time."""
    sys_tokens, question = count_tokens(SYSTEM_TEXT), count_tokens(FIRST_QUESTION)
    ask(claude, [user(FIRST_QUESTION)], system=system("5m"))
    assert split(fake.responses[-1]) == (question, 0, sys_tokens, 0)
    ask(claude, [user(FIRST_QUESTION)], system=system("5m"))
    assert split(fake.responses[-1]) == (question, sys_tokens, 0, 0)


def test_anthropic_growing_conversation_reads_the_previous_breakpoint(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """An agent loop moving its breakpoint to the newest message reads the old prefix (lookback)."""
    sys_tokens, question = count_tokens(SYSTEM_TEXT), count_tokens(FIRST_QUESTION)
    ask(claude, [user(FIRST_QUESTION, breakpoint="5m")], system=system("1h"))
    turn2 = [
        user(FIRST_QUESTION),
        assistant("Here it is."),
        user("Shorter please.", breakpoint="5m"),
    ]
    ask(claude, turn2, system=system("1h"))
    assert split(fake.responses[-1]) == (0, sys_tokens + question, 3 + 2, 0)


def test_anthropic_5m_expires_but_1h_survives_a_30_minute_pause(
    fake: FakeProvider, claude: anthropic.Anthropic, clock: FakeClock
) -> None:
    """After 30 minutes the 1h system prefix is read and the 5m message segment is rewritten."""
    sys_tokens, question = count_tokens(SYSTEM_TEXT), count_tokens(FIRST_QUESTION)
    messages = [user(FIRST_QUESTION, breakpoint="5m")]
    ask(claude, messages, system=system("1h"))
    clock.advance(30 * 60)
    ask(claude, messages, system=system("1h"))
    assert split(fake.responses[-1]) == (0, sys_tokens, question, 0)
    clock.advance(3600)
    ask(claude, messages, system=system("1h"))
    assert split(fake.responses[-1]) == (0, 0, question, sys_tokens)


def test_anthropic_read_refreshes_the_ttl_and_expiry_rewrites(
    fake: FakeProvider, claude: anthropic.Anthropic, clock: FakeClock
) -> None:
    """Reads inside the TTL keep an entry alive past its first expiry; a longer gap loses it."""
    sys_tokens = count_tokens(SYSTEM_TEXT)
    messages = [user("hi")]
    ask(claude, messages, system=system("5m"))
    for _ in range(3):
        clock.advance(299)
        ask(claude, messages, system=system("5m"))
        assert split(fake.responses[-1]) == (1, sys_tokens, 0, 0)
    clock.advance(301)
    ask(claude, messages, system=system("5m"))
    assert split(fake.responses[-1]) == (1, 0, sys_tokens, 0)


def test_anthropic_changed_prefix_or_model_misses(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """A cache entry matches only the same model and the same prefix, byte for byte."""
    sys_tokens = count_tokens(SYSTEM_TEXT)
    ask(claude, [user("hi")], system=system("5m"))
    claude.messages.create(
        model="claude-other", max_tokens=64, messages=[user("hi")], system=system("5m")
    )
    assert split(fake.responses[-1]) == (1, 0, sys_tokens, 0)
    changed: list[TextBlockParam] = [
        {
            "type": "text",
            "text": SYSTEM_TEXT.replace("careful", "cautious"),
            "cache_control": {"type": "ephemeral"},
        }
    ]
    ask(claude, [user("hi")], system=changed)
    assert split(fake.responses[-1]) == (1, 0, sys_tokens, 0)


def test_anthropic_minimum_cacheable_length(
    claude: anthropic.Anthropic, fake: FakeProvider
) -> None:
    """A breakpoint whose prefix is shorter than min_cacheable_tokens caches nothing."""
    fake.min_cacheable_tokens = 10_000
    ask(claude, [user("hi", breakpoint="5m")], system=system("1h"))
    ask(claude, [user("hi", breakpoint="5m")], system=system("1h"))
    assert split(fake.responses[-1]) == (count_tokens(SYSTEM_TEXT) + 1, 0, 0, 0)


def test_anthropic_refuses_bad_breakpoints(claude: anthropic.Anthropic, fake: FakeProvider) -> None:
    """More than 4 breakpoints, or a 1h one after a 5m one, is a 400 as on the real API."""
    five = [user(f"part {i}", breakpoint="5m") for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4"):
        ask(claude, five)
    with pytest.raises(anthropic.BadRequestError, match="1h"):
        ask(claude, [user("later", breakpoint="1h")], system=system("5m"))
    assert [r.status for r in fake.responses] == [400, 400]


def test_anthropic_thinking_counts_into_output(
    claude: anthropic.Anthropic, fake: FakeProvider
) -> None:
    """Thinking adds a thinking block; its tokens are in output_tokens and in thinking_tokens."""
    fake.thinking_tokens = 20
    message = ask(claude, [user("think")], thinking={"type": "enabled", "budget_tokens": 1024})
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.usage.output_tokens == 20 + REPLY_TOKENS
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == 20
    assert message.usage.model_dump(exclude_none=True) == sent_usage(fake)


def test_anthropic_max_tokens_cuts_the_reply(
    claude: anthropic.Anthropic, fake: FakeProvider
) -> None:
    """A reply longer than max_tokens stops at max_tokens with stop_reason max_tokens."""
    fake.reply = "word " * 50
    message = claude.messages.create(model=CLAUDE, max_tokens=7, messages=[user("go")])
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 7


# Anthropic: streaming


def test_anthropic_raw_stream_events_have_the_real_shape(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """message_start carries input usage and output 1; message_delta carries cumulative usage."""
    fake.thinking_tokens = 5
    events = list(
        claude.messages.create(
            model=CLAUDE,
            max_tokens=1024,
            messages=[user(FIRST_QUESTION, breakpoint="5m")],
            system=system("1h"),
            thinking={"type": "enabled", "budget_tokens": 1024},
            stream=True,
        )
    )
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 2
    start, delta = events[0], events[-2]
    assert start.type == "message_start"
    assert delta.type == "message_delta"
    record = fake.responses[-1]
    assert record.stream
    assert record.billed_usage is not None
    billed = record.billed_usage
    assert start.message.usage.output_tokens == 1
    assert start.message.usage.input_tokens == billed["input_tokens"]
    assert start.message.usage.cache_creation is not None
    assert start.message.usage.cache_creation.ephemeral_1h_input_tokens == count_tokens(SYSTEM_TEXT)
    assert delta.usage.output_tokens == billed["output_tokens"] == 5 + REPLY_TOKENS
    assert delta.usage.cache_read_input_tokens == billed["cache_read_input_tokens"]
    assert delta.usage.output_tokens_details is not None
    assert delta.usage.output_tokens_details.thinking_tokens == 5
    assert record.usage == billed
    assert record.events_sent == len(events) + 1  # the SDK skips `ping`


def test_anthropic_messages_stream_helper(fake: FakeProvider, claude: anthropic.Anthropic) -> None:
    """messages.stream() accumulates text and the final usage equals what the server sent."""
    with claude.messages.stream(
        model=CLAUDE, max_tokens=1024, messages=[user(FIRST_QUESTION, breakpoint="5m")]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == fake.reply
    assert final.usage.model_dump(exclude_none=True) == sent_usage(fake)
    assert final.usage.cache_creation_input_tokens == count_tokens(FIRST_QUESTION)


def test_anthropic_async_json_and_stream(fake: FakeProvider) -> None:
    """The async client parses JSON and streamed responses; usage matches the server's."""

    async def run() -> tuple[Message, Message]:
        async with anthropic.AsyncAnthropic(
            base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=False
        ) as client:
            first = await client.messages.create(
                model=CLAUDE, max_tokens=64, messages=[user("hi", breakpoint="5m")]
            )
            async with client.messages.stream(
                model=CLAUDE, max_tokens=64, messages=[user("hi", breakpoint="5m")]
            ) as stream:
                second = await stream.get_final_message()
            return first, second

    first, second = asyncio.run(run())
    records = fake.responses
    assert first.usage.model_dump(exclude_none=True) == records[0].usage
    assert second.usage.model_dump(exclude_none=True) == records[1].usage
    assert second.usage.cache_read_input_tokens == 1


# OpenAI Chat Completions


def test_openai_chat_json_and_automatic_prefix_cache(
    fake: FakeProvider, gpt: openai.OpenAI, clock: FakeClock
) -> None:
    """prompt_tokens includes cached_tokens: the longest recent message prefix, within 5 minutes."""
    sys_tokens, question = count_tokens(SYSTEM_TEXT), count_tokens(FIRST_QUESTION)
    first = gpt.chat.completions.create(model=GPT, messages=chat(FIRST_QUESTION))
    assert first.usage is not None
    assert first.usage.model_dump(exclude_none=True) == sent_usage(fake)
    assert first.usage.prompt_tokens == sys_tokens + question
    assert first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert first.choices[0].message.content == fake.reply

    longer = gpt.chat.completions.create(model=GPT, messages=chat(FIRST_QUESTION, "Sure.", "More."))
    assert longer.usage is not None
    assert longer.usage.prompt_tokens == sys_tokens + question + 2
    assert longer.usage.prompt_tokens_details is not None
    assert longer.usage.prompt_tokens_details.cached_tokens == sys_tokens + question
    assert longer.usage.total_tokens == longer.usage.prompt_tokens + REPLY_TOKENS

    clock.advance(301)
    cold = gpt.chat.completions.create(model=GPT, messages=chat(FIRST_QUESTION))
    assert cold.usage is not None
    assert cold.usage.prompt_tokens_details is not None
    assert cold.usage.prompt_tokens_details.cached_tokens == 0


def test_openai_reasoning_tokens_are_inside_completion_tokens(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    """With reasoning_effort the completion includes reasoning_tokens, reported in details."""
    fake.thinking_tokens = 30
    done = gpt.chat.completions.create(model=GPT, messages=chat("hi"), reasoning_effort="low")
    assert done.usage is not None
    assert done.usage.completion_tokens == 30 + REPLY_TOKENS
    assert done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == 30


def test_openai_chat_stream_without_include_usage_has_no_usage(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    """Without stream_options.include_usage no chunk carries usage; the server still billed."""
    chunks = list(gpt.chat.completions.create(model=GPT, messages=chat("hi"), stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == fake.reply
    record = fake.responses[-1]
    assert record.usage is None
    assert record.billed_usage is not None
    assert record.billed_usage["completion_tokens"] == REPLY_TOKENS


def test_openai_chat_stream_with_include_usage_ends_with_a_usage_chunk(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    """With include_usage the last chunk has empty choices and the usage; the others have none."""
    chunks = list(
        gpt.chat.completions.create(
            model=GPT, messages=chat("hi"), stream=True, stream_options={"include_usage": True}
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.model_dump(exclude_none=True) == sent_usage(fake)
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_openai_async_chat_stream(fake: FakeProvider) -> None:
    """The async OpenAI client reads the stream and its usage chunk."""

    async def run() -> int:
        async with openai.AsyncOpenAI(
            base_url=fake.openai_base_url, api_key="test", max_retries=0
        ) as client:
            stream = await client.chat.completions.create(
                model=GPT, messages=chat("hi"), stream=True, stream_options={"include_usage": True}
            )
            total = 0
            async for chunk in stream:
                if chunk.usage is not None:
                    total = chunk.usage.total_tokens
            return total

    assert asyncio.run(run()) == sent_usage(fake)["total_tokens"]


# OpenAI Responses


def test_openai_responses_json_with_reasoning_and_cache(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    """Responses usage: input includes cached_tokens, output includes reasoning_tokens."""
    fake.thinking_tokens = 12
    first = gpt.responses.create(model=GPT, instructions=SYSTEM_TEXT, input="hello there")
    assert first.output_text == fake.reply
    assert first.usage is not None
    assert first.usage.model_dump(exclude_none=True) == sent_usage(fake)
    again = gpt.responses.create(
        model=GPT, instructions=SYSTEM_TEXT, input="hello there", reasoning={"effort": "low"}
    )
    assert again.usage is not None
    total_in = count_tokens(SYSTEM_TEXT) + 2
    assert again.usage.input_tokens == total_in
    assert again.usage.input_tokens_details.cached_tokens == total_in
    assert again.usage.output_tokens == 12 + REPLY_TOKENS
    assert again.usage.output_tokens_details.reasoning_tokens == 12
    assert again.usage.total_tokens == total_in + 12 + REPLY_TOKENS
    assert [item.type for item in again.output] == ["reasoning", "message"]


def test_openai_responses_stream_events(fake: FakeProvider, gpt: openai.OpenAI) -> None:
    """A Responses stream runs response.created ... response.completed, the last with usage."""
    events = list(gpt.responses.create(model=GPT, input="hello there", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert completed.response.usage.model_dump(exclude_none=True) == sent_usage(fake)

    with gpt.responses.stream(model=GPT, input="hello there") as stream:
        final = stream.get_final_response()
    assert final.output_text == fake.reply
    assert final.usage is not None
    assert final.usage.input_tokens_details.cached_tokens == 2


# failures


def test_injected_anthropic_error_raises_the_sdk_class(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """fail_next gives an API-shaped error: 529 is OverloadedError, 429 RateLimitError; then OK."""
    fake.fail_next()
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        ask(claude, [user("hi")])
    assert overloaded.value.body == fake.responses[-1].error
    assert isinstance(overloaded.value.body, dict)
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    fake.fail_next(status=429)
    with pytest.raises(anthropic.RateLimitError):
        ask(claude, [user("hi")])
    ask(claude, [user("hi")])
    assert [r.status for r in fake.responses] == [529, 429, 200]
    assert fake.responses[0].usage is None


def test_sdk_retries_through_injected_errors(fake: FakeProvider) -> None:
    """A retrying client sees the injected failures as attempts and gets the next success."""
    with anthropic.Anthropic(
        base_url=fake.base_url, api_key="test", max_retries=2, open_telemetry=False
    ) as client:
        fake.fail_next(2, status=500)
        message = ask(client, [user("hi")])
    assert message.usage.input_tokens == 1
    assert [r.status for r in fake.responses] == [500, 500, 200]


def test_injected_openai_errors_raise_the_sdk_classes(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    """429 is RateLimitError and 500 InternalServerError, with OpenAI's error envelope."""
    fake.fail_next(status=429)
    with pytest.raises(openai.RateLimitError) as limited:
        gpt.chat.completions.create(model=GPT, messages=chat("hi"))
    assert limited.value.code == "rate_limit_exceeded"
    fake.fail_next(status=500)
    with pytest.raises(openai.InternalServerError):
        gpt.responses.create(model=GPT, input="hi")


def test_broken_anthropic_stream_raises_and_records_partial_usage(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """A stream cut after 3 events raises in the SDK; the record holds message_start's usage."""
    fake.break_stream_after(3)
    seen: list[str] = []
    with pytest.raises(httpx2.TransportError):
        for event in claude.messages.create(
            model=CLAUDE, max_tokens=64, messages=[user("hi")], stream=True
        ):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start"]  # plus a skipped ping
    record = fake.responses[-1]
    assert record.broken
    assert record.events_sent == 3
    assert record.usage is not None
    assert record.usage["output_tokens"] == 1
    assert record.billed_usage is not None
    assert record.billed_usage["output_tokens"] == REPLY_TOKENS
    ask(claude, [user("hi")])  # the server carries on


def test_broken_openai_stream_raises_connection_error(
    fake: FakeProvider, gpt: openai.OpenAI
) -> None:
    """A Chat stream cut midway raises APIConnectionError and records no usage."""
    fake.break_stream_after(2)
    with pytest.raises(openai.APIConnectionError):
        for _chunk in gpt.chat.completions.create(
            model=GPT, messages=chat("hi"), stream=True, stream_options={"include_usage": True}
        ):
            pass
    assert fake.responses[-1].broken
    assert fake.responses[-1].usage is None


def test_in_stream_error_events(
    fake: FakeProvider, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    """break_stream_after(error=...) sends the provider's in-stream error, which the SDKs raise."""
    fake.break_stream_after(2, error="overloaded_error")
    with pytest.raises(anthropic.APIStatusError) as in_stream:
        for _event in claude.messages.create(
            model=CLAUDE, max_tokens=64, messages=[user("hi")], stream=True
        ):
            pass
    assert isinstance(in_stream.value.body, dict)
    assert in_stream.value.body["error"]["type"] == "overloaded_error"
    assert fake.responses[-1].error == in_stream.value.body
    fake.break_stream_after(1, error="server_error")
    with pytest.raises(openai.APIError):
        for _chunk in gpt.chat.completions.create(model=GPT, messages=chat("hi"), stream=True):
            pass


# recording, routing, concurrency, lifecycle


def test_requests_are_recorded_with_path_headers_and_body(
    fake: FakeProvider, claude: anthropic.Anthropic, gpt: openai.OpenAI, clock: FakeClock
) -> None:
    """Each request is kept with its path, lower-case headers, parsed body and clock time."""
    ask(claude, [user("hi")])
    clock.advance(10)
    gpt.chat.completions.create(model=GPT, messages=chat("hi"))
    first, second = fake.requests
    assert (first.index, first.path, first.time) == (0, "/v1/messages", 1_000.0)
    assert first.headers["authorization"] == "Bearer test"  # anthropic 2.x sends a bearer key
    assert "anthropic-version" in first.headers
    assert first.body is not None
    assert first.body["messages"] == [user("hi")]
    assert (second.path, second.time) == ("/v1/chat/completions", 1_010.0)
    assert second.headers["authorization"] == "Bearer test"
    assert [r.api for r in fake.responses] == ["anthropic.messages", "openai.chat"]


def test_unknown_route_is_an_api_shaped_404(
    fake: FakeProvider, claude: anthropic.Anthropic
) -> None:
    """Routes the fake does not speak answer 404, which the SDK raises as NotFoundError."""
    with pytest.raises(anthropic.NotFoundError):
        claude.models.list()
    assert fake.responses[-1].api == "unknown"


def test_concurrent_requests_get_distinct_records(fake: FakeProvider) -> None:
    """Requests from many threads are all served and recorded once each, with distinct ids."""
    with (
        anthropic.Anthropic(
            base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=False
        ) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        ids = list(pool.map(lambda i: ask(client, [user(f"q {i}")]).id, range(16)))
    assert len(set(ids)) == 16
    assert sorted(r.index for r in fake.responses) == list(range(16))
    assert {r.response_id for r in fake.responses} == set(ids)


def test_start_and_stop_are_idempotent_and_free_the_port() -> None:
    """stop() twice is harmless; a stopped provider refuses connections."""
    provider = FakeProvider().start()
    url = provider.base_url
    provider.start()
    assert provider.base_url == url
    provider.stop()
    provider.stop()
    with pytest.raises(httpx2.ConnectError):
        httpx2.post(f"{url}/v1/messages", content=json.dumps({}))
