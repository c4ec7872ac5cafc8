"""Other producers' spans, alone and beside ours, against the fake provider (issue 10).

Each producer is the real package, instrumented onto a real TracerProvider that carries
`SessionSpanProcessor` and `BatchSpanProcessor(TokenUsageSpanExporter)`. Every row makes
two calls of one API (OpenAI Chat, OpenAI Responses, Anthropic Messages), JSON or
streamed, inside one `session()`, the second reading the cache the first wrote. Then:

- the session's log has exactly one line per call, and no line lands anywhere else;
- each count of a line equals what the fake billed, wherever a span of the call carried
  it: each `Producer.view` says what its spans never carry (the README's table
  "producer x what ends up in the line" is this table in words);
- beside our instrumentors, every count equals what the fake billed.

A producer that is not installed skips its rows (see pyproject's `test` extra); openlit
cannot share an environment with this project's pins (README) and runs only where it is
installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_token_usage import SessionSpanProcessor, TokenUsageSpanExporter, session
from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor
from otel_token_usage.instrumentation.openai import STREAM_USAGE_ENV, OpenAIInstrumentor
from otel_token_usage.record import LOG_FILE_NAME
from otel_token_usage.testing import FakeClock, FakeProvider, RecordedResponse

Api = Literal["chat", "responses", "anthropic"]
View = dict[str, int | None]

GPT = "gpt-fake-1"
CLAUDE = "claude-fake-1"
COUNTS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "thinking_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
)
SPLIT = ("cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens")
INSTRUCTIONS = "You are a careful assistant who answers in full sentences. " * 4
THINKING = {"type": "enabled", "budget_tokens": 1024}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}


# --- what the fake billed, and what a producer's line carries of it -------------


def billed(response: RecordedResponse) -> View:
    """The line a call should have, from the usage the fake billed for it."""
    usage = response.billed_usage
    assert usage is not None
    if response.api == "anthropic.messages":
        split = usage.get("cache_creation") or {}
        return {
            "input_tokens": usage["input_tokens"],
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
            "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
            "output_tokens": usage["output_tokens"],
            "thinking_tokens": usage["output_tokens_details"]["thinking_tokens"],
            "cache_creation_5m_input_tokens": split.get("ephemeral_5m_input_tokens"),
            "cache_creation_1h_input_tokens": split.get("ephemeral_1h_input_tokens"),
        }
    chat = response.api == "openai.chat"
    details = usage["prompt_tokens_details" if chat else "input_tokens_details"]
    output = usage["completion_tokens_details" if chat else "output_tokens_details"]
    prompt = usage["prompt_tokens" if chat else "input_tokens"]
    read, write = details.get("cached_tokens", 0), details.get("cache_write_tokens", 0)
    return {
        "input_tokens": prompt - read - write,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
        "output_tokens": usage["completion_tokens" if chat else "output_tokens"],
        "thinking_tokens": output["reasoning_tokens"],
        "cache_creation_5m_input_tokens": None,
        "cache_creation_1h_input_tokens": None,
    }


def without(view: View, *counts: str) -> View:
    """`view` as a producer that never reports `counts` gives it: missing counts are 0
    (the split: absent), and a missing cache count stays inside its inclusive input."""
    out = dict(view)
    for name in counts:
        if name in ("cache_read_input_tokens", "cache_creation_input_tokens"):
            out["input_tokens"] = (out["input_tokens"] or 0) + (out[name] or 0)
        out[name] = None if name in SPLIT else 0
    return out


# --- a producer: how to instrument it, how a call is made through it ------------


@dataclass
class Context:
    """One row's pipeline and clients; `processors` are what feeds our exporter."""

    fake: FakeProvider
    provider: TracerProvider
    processors: Sequence[SpanProcessor]
    sessions_dir: Path
    first: int  # the index of this row's first response in `fake.responses`
    undo: list[Callable[[], object]] = field(default_factory=list)
    openai_client: openai.OpenAI | None = None
    anthropic_client: anthropic.Anthropic | None = None

    @property
    def openai(self) -> openai.OpenAI:
        if self.openai_client is None:
            self.openai_client = openai.OpenAI(
                base_url=self.fake.openai_base_url, api_key="test", max_retries=0
            )
        return self.openai_client

    @property
    def anthropic(self) -> anthropic.Anthropic:
        if self.anthropic_client is None:
            self.anthropic_client = anthropic.Anthropic(
                base_url=self.fake.base_url, api_key="test", max_retries=0, open_telemetry=False
            )
        return self.anthropic_client


def _chat_messages(turn: int) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": f"Question {turn}: how long does a prompt cache last?"},
    ]


def sdk_call(ctx: Context, api: Api, stream: bool, turn: int) -> None:
    """Call `turn` of a session through the provider SDK itself."""
    request: dict[str, Any]
    create: Callable[..., Any]
    if api == "chat":
        request = {"model": GPT, "messages": _chat_messages(turn), "reasoning_effort": "low"}
        if stream:
            request |= {"stream": True, "stream_options": {"include_usage": True}}
        create = ctx.openai.chat.completions.create
    elif api == "responses":
        request = {"model": GPT, "input": _chat_messages(turn), "reasoning": {"effort": "low"}}
        request["stream"] = stream
        create = ctx.openai.responses.create
    else:
        request = {
            "model": CLAUDE,
            "max_tokens": 2048,
            "thinking": THINKING,
            "stream": stream,
            "system": [{"type": "text", "text": INSTRUCTIONS, "cache_control": ONE_HOUR}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "Some context to keep. " * 3,
                            "cache_control": {"type": "ephemeral"},
                        },
                        {"type": "text", "text": f"Question {turn}: how long does it last?"},
                    ],
                }
            ],
        }
        create = ctx.anthropic.messages.create
    result = create(**request)
    if stream:
        for _ in result:
            pass


def _instrumentors(*targets: tuple[str, str]) -> Callable[[Context], None]:
    """Instrument with `BaseInstrumentor`s named as (module, class); undone afterwards."""

    def instrument(ctx: Context) -> None:
        for module, name in targets:
            instrumentor = getattr(importlib.import_module(module), name)()
            instrumentor.instrument(tracer_provider=ctx.provider)
            ctx.undo.append(instrumentor.uninstrument)

    return instrument


def _logfire(ctx: Context) -> None:
    import logfire

    instance = logfire.configure(
        local=True,
        send_to_logfire=False,
        console=False,
        metrics=False,
        inspect_arguments=False,
        service_name="tests",
        additional_span_processors=list(ctx.processors),
    )
    for instrumented in (
        instance.instrument_openai(ctx.openai),
        instance.instrument_anthropic(ctx.anthropic),
    ):
        instrumented.__enter__()  # instrumented already; leaving it uninstruments
        ctx.undo.append(partial(instrumented.__exit__, None, None, None))


def _native(ctx: Context) -> None:
    ctx.anthropic_client = anthropic.Anthropic(
        base_url=ctx.fake.base_url,
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": ctx.provider},
    )


def _langchain_call(ctx: Context, api: Api, stream: bool, turn: int) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    model: Any
    if api == "anthropic":
        from langchain_anthropic import ChatAnthropic

        options: dict[str, Any] = {"base_url": ctx.fake.base_url, "api_key": "test"}
        model = ChatAnthropic(
            model_name=CLAUDE,
            max_retries=0,
            max_tokens_to_sample=2048,
            thinking=THINKING,
            **options,
        )
        system = SystemMessage([{"type": "text", "text": INSTRUCTIONS, "cache_control": ONE_HOUR}])
    else:
        from langchain_openai import ChatOpenAI

        model = ChatOpenAI(
            model=GPT,
            base_url=ctx.fake.openai_base_url,
            api_key="test",  # type: ignore[arg-type]
            max_retries=0,
            stream_usage=True,
            use_responses_api=api == "responses",
            reasoning_effort="low",
        )
        system = SystemMessage(INSTRUCTIONS)
    messages = [system, HumanMessage(f"Question {turn}: how long does a prompt cache last?")]
    if stream:
        for _ in model.stream(messages):
            pass
    else:
        model.invoke(messages)


def _pydantic_ai_call(ctx: Context, api: Api, stream: bool, turn: int) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.capabilities.instrumentation import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings

    model: Any
    settings: dict[str, Any]
    if api == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        model = AnthropicModel(
            CLAUDE, provider=AnthropicProvider(anthropic_client=_async_anthropic(ctx))
        )
        settings = {
            "max_tokens": 2048,
            "anthropic_thinking": THINKING,
            "anthropic_cache_instructions": "1h",
            "anthropic_cache_messages": True,
        }
    else:
        from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(base_url=ctx.fake.openai_base_url, api_key="test")
        kind = OpenAIChatModel if api == "chat" else OpenAIResponsesModel
        model = kind(GPT, provider=provider)
        settings = {"openai_reasoning_effort": "low"}
    instrumentation = InstrumentationSettings(tracer_provider=ctx.provider, include_content=False)
    options: dict[str, Any] = {"model_settings": settings}
    agent: Any = Agent(
        model,
        instructions=INSTRUCTIONS,
        capabilities=[Instrumentation(instrumentation)],
        **options,
    )
    prompt = f"Question {turn}: how long does a prompt cache last?"
    if stream:

        async def streamed() -> None:
            async with agent.run_stream(prompt) as result:
                async for _ in result.stream_text(delta=True):
                    pass

        asyncio.run(streamed())
    else:
        agent.run_sync(prompt)


def _async_anthropic(ctx: Context) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=ctx.fake.base_url, api_key="test", max_retries=0, open_telemetry=False
    )


@dataclass(frozen=True)
class Producer:
    """A third-party producer of LLM spans, as a user would set it up."""

    name: str
    requires: tuple[str, ...]
    apis: tuple[Api, ...]
    instrument: Callable[[Context], None]
    view: Callable[[Api, bool, View], View]
    call: Callable[[Context, Api, bool, int], None] = sdk_call
    override: bool = False  # it names a conversation of its own: session(override=True)
    # (api, stream) of calls it makes where our instrumentors trace nothing
    ours_misses: tuple[tuple[Api, bool], ...] = ()


def _openai_v2_view(api: Api, stream: bool, view: View) -> View:
    return without(
        view, "cache_read_input_tokens", "cache_creation_input_tokens", "thinking_tokens"
    )


def _openllmetry_view(api: Api, stream: bool, view: View) -> View:
    if api == "anthropic":
        out = without(view, "thinking_tokens", *SPLIT)
        if stream:  # message_delta's output is added to message_start's placeholder (1)
            out["output_tokens"] = (out["output_tokens"] or 0) + 1
        return out
    missing = ["cache_creation_input_tokens"]
    if api == "chat" and stream:
        missing.append("thinking_tokens")
    return without(view, *missing)


def _split_only_for_anthropic(api: Api, stream: bool, view: View) -> View:
    return without(view, *SPLIT) if api == "anthropic" else view


def _langchain_view(api: Api, stream: bool, view: View) -> View:
    if api == "anthropic":  # langchain-anthropic's JSON usage_metadata has no reasoning
        return without(view, *SPLIT) if stream else without(view, "thinking_tokens", *SPLIT)
    return view


def _pydantic_ai_view(api: Api, stream: bool, view: View) -> View:
    # Only a non-zero 1-hour part is written; the 5-minute part is the rest of the write.
    if api == "anthropic" and not view["cache_creation_1h_input_tokens"]:
        return without(view, *SPLIT)
    return view


def _everything(api: Api, stream: bool, view: View) -> View:
    return view


PRODUCERS = [
    Producer(
        "openai-v2",
        ("opentelemetry.instrumentation.openai_v2",),
        ("chat",),
        _instrumentors(("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor")),
        _openai_v2_view,
    ),
    Producer(
        "openllmetry",
        ("opentelemetry.instrumentation.openai", "opentelemetry.instrumentation.anthropic"),
        ("chat", "responses", "anthropic"),
        _instrumentors(
            ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),
            ("opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),
        ),
        _openllmetry_view,
    ),
    Producer(
        "openinference",
        ("openinference.instrumentation.openai", "openinference.instrumentation.anthropic"),
        ("chat", "responses", "anthropic"),
        _instrumentors(
            ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
            ("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        ),
        _split_only_for_anthropic,
    ),
    Producer(
        "langchain-openinference",
        ("openinference.instrumentation.langchain", "langchain_openai", "langchain_anthropic"),
        ("chat", "responses", "anthropic"),
        _instrumentors(("openinference.instrumentation.langchain", "LangChainInstrumentor")),
        _langchain_view,
        _langchain_call,
        # langchain-anthropic streams through with_raw_response: the body is its to read
        ours_misses=(("anthropic", True),),
    ),
    Producer(
        "pydantic-ai",
        ("pydantic_ai",),
        ("chat", "responses", "anthropic"),
        lambda ctx: None,
        _pydantic_ai_view,
        _pydantic_ai_call,
        override=True,
        ours_misses=(("anthropic", False), ("anthropic", True)),  # client.beta.messages
    ),
    Producer("logfire", ("logfire",), ("chat", "responses", "anthropic"), _logfire, _everything),
    Producer("anthropic-native", ("anthropic",), ("anthropic",), _native, _everything),
]

ROWS = [
    pytest.param(
        producer, api, stream, id=f"{producer.name}-{api}-{'stream' if stream else 'json'}"
    )
    for producer in PRODUCERS
    for api in producer.apis
    for stream in (False, True)
]


# --- fixtures -------------------------------------------------------------------


class PatchedClasses:
    """The methods of the SDKs' classes as they are, to put back after a row.

    Instrumentors patch SDK classes for the whole process, and not every `uninstrument()`
    undoes what `instrument()` did (OpenLLMetry 0.62 leaves `Responses.create` and
    others wrapped under openai 3.x): restoring keeps rows, and later test modules,
    apart."""

    # Where instrumentors patch: the SDKs' clients and resources, LangChain's callbacks.
    # (Not the packages' top modules: their lazy proxies build clients when inspected.)
    PREFIXES = (
        "openai._",
        "openai.resources.",
        "anthropic._",
        "anthropic.resources.",
        "langchain_core.callbacks.",
    )

    # The SDKs load resource modules lazily; an instrumentor imports and patches these.
    RESOURCES = (
        "openai.resources.chat.completions",
        "openai.resources.completions",
        "openai.resources.embeddings",
        "openai.resources.images",
        "openai.resources.responses",
        "openai.resources.beta.assistants",
        "openai.resources.beta.threads.runs",
        "openai.resources.beta.threads.messages",
        "openai.resources.beta.realtime.realtime",
        "anthropic.resources.messages",
        "anthropic.resources.completions",
        "anthropic.resources.beta.messages",
    )

    def __init__(self) -> None:
        for module in self.RESOURCES:
            # openai 3.x packages load their modules lazily: `responses.responses` too.
            for name in (module, f"{module}.{module.rsplit('.', 1)[1]}"):
                with contextlib.suppress(ImportError):
                    importlib.import_module(name)
        self._saved = {cls: dict(vars(cls)) for cls in self._classes()}

    @classmethod
    def _patched_here(cls, name: str) -> bool:
        return name.startswith(cls.PREFIXES)

    @classmethod
    def _classes(cls) -> set[type]:
        found: set[type] = set()
        for name, module in list(sys.modules.items()):
            if module is None or not cls._patched_here(name):
                continue
            found.update(
                value
                for value in list(vars(module).values())
                # type(), not isinstance(): the SDKs' lazy proxies load when asked __class__
                if issubclass(type(value), type) and cls._patched_here(value.__module__)
            )
        return found

    def restore(self) -> None:
        for cls, saved in self._saved.items():
            for name, value in list(vars(cls).items()):
                if name not in saved:
                    with contextlib.suppress(AttributeError, TypeError):
                        delattr(cls, name)
                elif saved[name] is not value:
                    setattr(cls, name, saved[name])


class Relay(SpanProcessor):
    """Hands every span to the current row's processors. One TracerProvider serves the
    whole module: OpenLLMetry keeps the tracer of its first `instrument()` in module
    state, so a provider per row would lose its spans after the first row."""

    def __init__(self) -> None:
        self.targets: Sequence[SpanProcessor] = ()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        for target in self.targets:
            target.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        for target in self.targets:
            target.on_end(span)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    """One fake for the module: response ids never repeat across rows (OpenLLMetry keeps
    a module-level memory of Responses API ids)."""
    with FakeProvider(clock=FakeClock()) as provider:
        yield provider


@pytest.fixture(scope="module")
def relayed() -> Iterator[tuple[TracerProvider, Relay]]:
    relay = Relay()
    provider = TracerProvider()
    provider.add_span_processor(relay)
    yield provider, relay
    provider.shutdown()


@pytest.fixture
def ctx(
    fake: FakeProvider,
    relayed: tuple[TracerProvider, Relay],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Context]:
    """A pipeline into our exporter (spans of one call are merged within a batch: the
    BatchSpanProcessor is flushed once, after the calls) and the fake provider."""
    # The Anthropic SDK traces natively when a global provider is set (another test may
    # have set one): only the native producer's rows ask for it.
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    fake.clear_cache()
    sessions_dir = tmp_path / "sessions"
    processors = [SessionSpanProcessor(), BatchSpanProcessor(TokenUsageSpanExporter(sessions_dir))]
    provider, relay = relayed
    relay.targets = processors
    context = Context(fake, provider, processors, sessions_dir, first=len(fake.responses))
    classes = PatchedClasses()
    try:
        yield context
    finally:
        for undo in reversed(context.undo):
            undo()
        classes.restore()
        relay.targets = ()
        for processor in processors:
            processor.shutdown()


def _ours(ctx: Context) -> None:
    for instrumentor in (OpenAIInstrumentor(), AnthropicInstrumentor()):
        instrumentor.instrument(tracer_provider=ctx.provider)
        ctx.undo.append(instrumentor.uninstrument)


def lines_by_session(sessions_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return (
        {
            directory.name: [
                json.loads(line) for line in (directory / LOG_FILE_NAME).read_text().splitlines()
            ]
            for directory in sorted(sessions_dir.iterdir())
        }
        if sessions_dir.exists()
        else {}
    )


def run_row(
    ctx: Context, producer: Producer, api: Api, stream: bool, *, ours: bool = False
) -> list[View]:
    """Two calls in session "row" (with `ours`, our instrumentors added after the
    producer's, so ours wrap theirs); returns the billed view of each call."""
    for module in producer.requires:
        pytest.importorskip(module)
    producer.instrument(ctx)
    if ours:
        _ours(ctx)
    with session("row", override=producer.override):
        for turn in (1, 2):
            producer.call(ctx, api, stream, turn)
    for processor in ctx.processors:
        processor.force_flush()
    return [billed(response) for response in ctx.fake.responses[ctx.first :]]


def counts(line: dict[str, Any]) -> View:
    return {name: line.get(name) for name in COUNTS}


# --- the rows -------------------------------------------------------------------


@pytest.mark.parametrize(("producer", "api", "stream"), ROWS)
def test_a_producer_alone_gives_one_line_per_call_in_its_session(
    ctx: Context, producer: Producer, api: Api, stream: bool
) -> None:
    """One line per call, in the session the call was made in, each count the fake's
    wherever the producer's span carries it (`Producer.view`)."""
    calls = run_row(ctx, producer, api, stream)
    assert len(calls) == 2
    logs = lines_by_session(ctx.sessions_dir)
    assert list(logs) == ["row"]
    assert [counts(line) for line in logs["row"]] == [
        producer.view(api, stream, call) for call in calls
    ]


@pytest.mark.parametrize(("producer", "api", "stream"), ROWS)
def test_a_producer_beside_ours_gives_the_exact_line(
    ctx: Context, producer: Producer, api: Api, stream: bool
) -> None:
    """With our instrumentors added after the producer's, every call is still one line,
    and each count is exactly what the fake billed: the spans of a call are merged, ours
    winning (where our instrumentors see the call at all: `ours_misses`)."""
    calls = run_row(ctx, producer, api, stream, ours=True)
    if (api, stream) in producer.ours_misses:
        calls = [producer.view(api, stream, call) for call in calls]
    logs = lines_by_session(ctx.sessions_dir)
    assert list(logs) == ["row"]
    assert [counts(line) for line in logs["row"]] == calls


# --- our OpenAI instrumentor over or under another wrapper (issue 10, item 4) ------


def _is_ours(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return scope is not None and scope.name.startswith("otel_token_usage")


def _stream_without_usage(ctx: Context, *, is_async: bool = False) -> list[Any]:
    """A Chat stream whose caller did not ask for usage: every chunk the caller sees."""
    request: dict[str, Any] = {"model": GPT, "messages": _chat_messages(1), "stream": True}
    if not is_async:
        return list(ctx.openai.chat.completions.create(**request))

    async def read() -> list[Any]:
        client = openai.AsyncOpenAI(
            base_url=ctx.fake.openai_base_url, api_key="test", max_retries=0
        )
        stream: Any = await client.chat.completions.create(**request)
        chunks = [chunk async for chunk in stream]
        await client.close()
        return chunks

    return asyncio.run(read())


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_ours_over_another_create_wrapper_never_changes_the_request(
    ctx: Context, is_async: bool
) -> None:
    """openai-v2 instrumented first: its stream is no `openai.Stream`, so ours cannot be
    sure to hide a usage chunk and does not ask for one. The caller gets exactly the
    stream it asked for (no chunk without choices), and our span still follows the
    stream to its end."""
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    _instrumentors(("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"))(ctx)
    _ours(ctx)
    memory = InMemorySpanExporter()
    ctx.provider.add_span_processor(SimpleSpanProcessor(memory))
    with session("row"):
        chunks = _stream_without_usage(ctx, is_async=is_async)
    request = ctx.fake.requests[-1].body
    assert request is not None and "stream_options" not in request
    assert chunks and all(chunk.choices for chunk in chunks)
    [ours] = [span for span in memory.get_finished_spans() if _is_ours(span)]
    assert (ours.attributes or {}).get("gen_ai.response.id") == chunks[0].id  # it saw the stream


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_ours_under_another_wrapper_asks_for_usage_and_hides_it(
    ctx: Context, is_async: bool
) -> None:
    """Ours instrumented first wraps the SDK's own `create`: it asks for the usage,
    hides the usage-only chunk from everything above it, and the call is one line with
    the billed counts."""
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    _ours(ctx)
    _instrumentors(("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"))(ctx)
    with session("row"):
        chunks = _stream_without_usage(ctx, is_async=is_async)
    for processor in ctx.processors:
        processor.force_flush()
    request = ctx.fake.requests[-1].body
    assert request is not None and request["stream_options"] == {"include_usage": True}
    assert chunks and all(chunk.choices and chunk.usage is None for chunk in chunks)
    [line] = lines_by_session(ctx.sessions_dir)["row"]
    assert counts(line) == billed(ctx.fake.responses[-1])


@pytest.mark.parametrize(
    ("argument", "variable"), [(False, None), (None, "false"), (None, " FALSE ")]
)
def test_stream_usage_can_be_turned_off(
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    argument: bool | None,
    variable: str | None,
) -> None:
    """instrument(stream_usage=False) or OTEL_TOKEN_USAGE_OPENAI_STREAM_USAGE=false (for
    servers that reject stream_options): the request stays as the caller made it."""
    if variable is not None:
        monkeypatch.setenv(STREAM_USAGE_ENV, variable)
    instrumentor = OpenAIInstrumentor()
    options = {} if argument is None else {"stream_usage": argument}
    instrumentor.instrument(tracer_provider=ctx.provider, **options)
    ctx.undo.append(instrumentor.uninstrument)
    chunks = _stream_without_usage(ctx)
    request = ctx.fake.requests[-1].body
    assert request is not None and "stream_options" not in request
    assert all(chunk.choices for chunk in chunks)


def test_a_bad_stream_usage_variable_is_a_warning(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A value that is not true/false is named in a warning, and usage is asked for."""
    monkeypatch.setenv(STREAM_USAGE_ENV, "sometimes")
    with caplog.at_level(logging.WARNING, "otel_token_usage.instrumentation.openai"):
        _ours(ctx)
    assert STREAM_USAGE_ENV in caplog.text and "'sometimes'" in caplog.text
    _stream_without_usage(ctx)
    request = ctx.fake.requests[-1].body
    assert request is not None and request["stream_options"] == {"include_usage": True}


# --- pydantic-ai's own conversation ids (issue 10, item 6) -------------------------


def test_pydantic_ai_ids_override_and_the_applications_own_id(ctx: Context) -> None:
    """pydantic-ai names every conversation itself (a UUID7 per new run, carried over in
    the message history). Inside session("chat-42") its own id wins; under
    session("chat-43", override=True) the session does; an id the application passed to
    run(conversation_id=...) wins over a session without override."""
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.capabilities.instrumentation import Instrumentation
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel(
        GPT, provider=OpenAIProvider(base_url=ctx.fake.openai_base_url, api_key="test")
    )
    settings = InstrumentationSettings(tracer_provider=ctx.provider, include_content=False)
    agent: Any = Agent(model, capabilities=[Instrumentation(settings)])

    def chat(**options: Any) -> None:
        first = agent.run_sync("A question.", **options)
        agent.run_sync("A follow-up.", message_history=first.all_messages(), **options)

    with session("chat-42"):
        chat()
    with session("chat-43", override=True):
        chat()
    with session("ambient"):
        chat(conversation_id="chat-44")
    with session("ambient", override=True):
        chat(conversation_id="app-id")
    for processor in ctx.processors:
        processor.force_flush()
    logs = {name: len(lines) for name, lines in lines_by_session(ctx.sessions_dir).items()}
    [uuid] = set(logs) - {"chat-43", "chat-44", "ambient"}
    assert logs == {uuid: 2, "chat-43": 2, "chat-44": 2, "ambient": 2}


# --- openlit: not installable beside this project's pins (README) ---------------------

_OPENLIT_SCRIPT = """
import json, os, sys, tempfile
from pathlib import Path
os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from otel_token_usage import SessionSpanProcessor, TokenUsageSpanExporter, session
from otel_token_usage.testing import FakeClock, FakeProvider
from tests.test_producers import Context, billed, sdk_call
import openlit

sessions_dir = Path(sys.argv[1])
processors = [SessionSpanProcessor(), BatchSpanProcessor(TokenUsageSpanExporter(sessions_dir))]
provider = TracerProvider()
for processor in processors:
    provider.add_span_processor(processor)
trace.set_tracer_provider(provider)  # openlit uses the global provider it finds
prices = Path(tempfile.mkdtemp()) / "pricing.json"
prices.write_text("{}")  # else openlit.init downloads its price list
openlit.init(
    pricing_json=str(prices), disable_metrics=True, disable_events=True,
    capture_message_content=False,
    disabled_instrumentors=["httpx", "requests", "urllib", "urllib3", "aiohttp-client"],
)
out = {}
with FakeProvider(clock=FakeClock()) as fake:
    ctx = Context(fake, provider, processors, sessions_dir, first=0)
    for api in ("chat", "responses", "anthropic"):
        for stream in (False, True):
            name = f"{api}-{'stream' if stream else 'json'}"
            first = len(fake.responses)
            with session(name):
                for turn in (1, 2):
                    sdk_call(ctx, api, stream, turn)
            out[name] = [billed(r) for r in fake.responses[first:]]
provider.shutdown()
print(json.dumps(out))
"""


def _openlit_view(api: Api, stream: bool, view: View) -> View:
    if api == "anthropic":
        return without(view, "thinking_tokens", *SPLIT)
    if api == "chat":
        missing = ["thinking_tokens", "cache_creation_input_tokens"]
        if stream:
            missing.append("cache_read_input_tokens")
        return without(view, *missing)
    return without(view, "cache_creation_input_tokens")


@pytest.mark.slow  # a process of its own: openlit takes the global tracer provider
def test_openlit_when_installed(tmp_path: Path) -> None:
    """openlit's spans name their operation only at their end: each call is still one
    line, in its session, with what openlit's span carries (see the README's table)."""
    if importlib.util.find_spec("openlit") is None:
        pytest.skip("openlit pins openai<3 and anthropic<1; install it with --no-deps")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _OPENLIT_SCRIPT, str(tmp_path)],
        cwd=root,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENLIT"))},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls: dict[str, list[View]] = json.loads(done.stdout.splitlines()[-1])
    logs = lines_by_session(tmp_path)
    assert sorted(logs) == sorted(calls)
    for name, billed_calls in calls.items():
        api, mode = name.split("-")
        stream = mode == "stream"
        expected = [_openlit_view(api, stream, call) for call in billed_calls]  # type: ignore[arg-type]
        assert [counts(line) for line in logs[name]] == expected, name
