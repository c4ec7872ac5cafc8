"""One line per call: spans of one call merged, field by field, most exact view first.

Spans here are made through the real SDK, each by a tracer named like the producer it
stands for (the instrumentation scope is what ranks producers); the real producers are
driven in test_producers.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenUsageSpanExporter
from otel_token_usage import semconv as a
from otel_token_usage.export._extract import extract_line, span_attributes
from otel_token_usage.export._merge import Call, CallMerger
from otel_token_usage.record import LOG_FILE_NAME

from .helpers import chat_attributes

OURS = "otel_token_usage.instrumentation.openai"
OPENAI_V2 = "opentelemetry.util.genai.handler"
NATIVE = "com.anthropic.sdk.python"
OPENLLMETRY = "opentelemetry.instrumentation.anthropic"
OPENINFERENCE = "openinference.instrumentation.openai"
LANGCHAIN = "openinference.instrumentation.langchain"


class Spans:
    """Finished spans made by named tracers of one real TracerProvider."""

    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))

    def make(
        self, scope: str, attributes: Mapping[str, AttributeValue], *, inside: Any = None
    ) -> ReadableSpan:
        """A finished CLIENT span of `scope`, child of the span `inside` if given."""
        tracer = self.provider.get_tracer(scope)
        context = trace.set_span_in_context(inside) if inside is not None else None
        with tracer.start_as_current_span(
            "chat", context=context, kind=SpanKind.CLIENT, attributes=attributes
        ):
            pass
        return self.memory.get_finished_spans()[-1]

    def nested(
        self,
        outer: tuple[str, Mapping[str, AttributeValue]],
        inner: tuple[str, Mapping[str, AttributeValue]],
    ) -> tuple[ReadableSpan, ReadableSpan]:
        """(inner, outer): the inner span ends first, as a nested call's span does."""
        tracer = self.provider.get_tracer(outer[0])
        with tracer.start_as_current_span("outer", kind=SpanKind.CLIENT, attributes=outer[1]):
            inner_span = self.make(*inner)
        return inner_span, self.memory.get_finished_spans()[-1]


@pytest.fixture
def spans() -> Iterator[Spans]:
    made = Spans()
    yield made
    made.provider.shutdown()


def lines(sessions_dir: Path, session: str = "sess-1") -> list[dict[str, Any]]:
    path = sessions_dir / session / LOG_FILE_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def counts(line: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        line["input_tokens"],
        line["cache_read_input_tokens"],
        line["cache_creation_input_tokens"],
        line["output_tokens"],
        line["thinking_tokens"],
    )


# the call key (issue 9, item 7)


def test_an_empty_response_id_identifies_nothing(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path
) -> None:
    """Three different calls whose spans say gen_ai.response.id="" are three lines."""
    made = [spans.make(OURS, chat_attributes(**{a.GEN_AI_RESPONSE_ID: ""})) for _ in range(3)]
    exporter.export(made[:2])
    exporter.export(made[2:])
    assert len(lines(sessions_dir)) == 3


def test_the_same_response_id_in_two_sessions_is_two_calls(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path
) -> None:
    """Some servers reuse ids: the same id in two sessions is two calls, in one batch or
    in two; in one session it is one call."""

    def call(session: str) -> ReadableSpan:
        attrs = chat_attributes(
            **{a.GEN_AI_RESPONSE_ID: "chatcmpl-1", a.GEN_AI_CONVERSATION_ID: session}
        )
        return spans.make(OURS, attrs)

    exporter.export([call("a"), call("b")])
    exporter.export([call("c")])
    exporter.export([call("a"), call("c")])
    assert [len(lines(sessions_dir, session)) for session in "abc"] == [1, 1, 1]


# two producers on one call (issue 10, item 2)


def test_the_line_takes_each_count_from_the_span_that_has_it(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path
) -> None:
    """openai-v2's span (input, output only) ends first, ours (cache read, reasoning)
    second, in one batch: the line carries ours, and points at our span."""
    v2_attrs: dict[str, AttributeValue] = {
        a.GEN_AI_OPERATION_NAME: "chat",
        a.GEN_AI_PROVIDER_NAME: "openai",
        a.GEN_AI_REQUEST_MODEL: "gpt-4o",
        a.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024",
        a.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        a.GEN_AI_USAGE_INPUT_TOKENS: 14_300,
        a.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
    }
    ours_attrs = {
        **v2_attrs,
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 12_000,
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 7,
    }
    inner, outer = spans.nested((OURS, ours_attrs), (OPENAI_V2, v2_attrs))
    exporter.export([inner, outer])
    [line] = lines(sessions_dir, "no-session")
    assert counts(line) == (2_300, 12_000, 0, 300, 7)
    assert line["model"] == "gpt-4o-2024"
    assert outer.context is not None
    assert line["span_id"] == f"{outer.context.span_id:016x}"


def test_a_count_beats_a_missing_one_whatever_the_rank(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path
) -> None:
    """The best-ranked span lacks thinking and the 5m/1h split: a lower-ranked span that
    reports them supplies them; where both report, the better rank wins (OpenLLMetry's
    streamed Anthropic output counts message_start's placeholder too: 301, not 300)."""
    base = chat_attributes(**{a.GEN_AI_RESPONSE_ID: "msg_1"})
    del base[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]
    native = {
        **base,
        a.ANTHROPIC_CACHE_WRITE_5M: 500,
        a.ANTHROPIC_CACHE_WRITE_1H: 1_000,
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 7,
    }
    openllmetry = {**base, a.GEN_AI_USAGE_OUTPUT_TOKENS: 301}
    made = [
        spans.make(OPENLLMETRY, openllmetry),
        spans.make(OURS, base),
        spans.make(NATIVE, native),
    ]
    exporter.export(made)
    [line] = lines(sessions_dir)
    assert counts(line) == (800, 12_000, 1_500, 300, 7)
    assert (line["cache_creation_5m_input_tokens"], line["cache_creation_1h_input_tokens"]) == (
        500,
        1_000,
    )
    ours = made[1].context
    assert ours is not None
    assert line["span_id"] == f"{ours.span_id:016x}"


def test_inclusive_and_exclusive_input_are_compared_as_prompt_size(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path
) -> None:
    """openlit reports Anthropic input exclusive (11, with cache 22 + 33), OpenInference
    inclusive (66) without the cache write: the line is fresh 11, read 22, write 33."""
    openlit = {
        **chat_attributes(**{a.GEN_AI_RESPONSE_ID: "msg_1"}),
        a.GEN_AI_USAGE_INPUT_TOKENS: 11,
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 22,
        a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 33,
    }
    inference: dict[str, AttributeValue] = {
        a.OPENINFERENCE_SPAN_KIND: "LLM",
        a.OPENINFERENCE_PROVIDER: "anthropic",
        a.OPENINFERENCE_MODEL_NAME: "claude-opus-4-8",
        a.OPENINFERENCE_PROMPT_TOKENS: 66,
        a.OPENINFERENCE_CACHE_READ: 22,
        a.OPENINFERENCE_COMPLETION_TOKENS: 300,
        a.GEN_AI_CONVERSATION_ID: "sess-1",
    }
    inner, outer = spans.nested(
        ("openinference.instrumentation.anthropic", inference),
        ("openlit.instrumentation.anthropic", openlit),
    )
    exporter.export([inner, outer])
    [line] = lines(sessions_dir)
    assert counts(line)[:4] == (11, 22, 33, 300)


# nested spans of one call (issue 10, item 3)


def _inference(model: str = "gpt-4o-2024", provider: str = "openai") -> dict[str, AttributeValue]:
    return {
        a.OPENINFERENCE_SPAN_KIND: "LLM",
        a.OPENINFERENCE_SYSTEM: provider,
        a.OPENINFERENCE_MODEL_NAME: model,
        a.OPENINFERENCE_PROMPT_TOKENS: 100,
        a.OPENINFERENCE_COMPLETION_TOKENS: 50,
        a.GEN_AI_CONVERSATION_ID: "sess-1",
    }


def _ours(response_id: str = "chatcmpl-9") -> dict[str, AttributeValue]:
    return {
        a.GEN_AI_OPERATION_NAME: "chat",
        a.GEN_AI_PROVIDER_NAME: "openai",
        a.GEN_AI_REQUEST_MODEL: "gpt-4o",
        a.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024",
        a.GEN_AI_RESPONSE_ID: response_id,
        a.GEN_AI_USAGE_INPUT_TOKENS: 100,
        a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 40,
        a.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
        a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 20,
        a.GEN_AI_CONVERSATION_ID: "sess-1",
    }


@pytest.mark.parametrize("batches", ["one batch", "one span per batch"])
@pytest.mark.parametrize("outer_scope", [LANGCHAIN, OPENINFERENCE])
def test_an_inference_span_nested_in_another_of_the_same_model_is_one_call(
    exporter: TokenUsageSpanExporter,
    spans: Spans,
    sessions_dir: Path,
    outer_scope: str,
    batches: str,
) -> None:
    """OpenInference spans carry no response id: nested around ours (same provider,
    request model "gpt-4o" vs response model "gpt-4o-2024") they are one call, in one
    batch (merged: ours has the cache read and reasoning) or across batches (the first
    written line stands, the later span is dropped), once spans without a response id
    are about (nesting is not looked for before: the README says what that costs)."""
    earlier = spans.make(outer_scope, {**_inference("gpt-4o"), a.GEN_AI_CONVERSATION_ID: "x"})
    exporter.export([earlier])
    inner, outer = spans.nested((outer_scope, _inference("gpt-4o")), (OURS, _ours()))
    if batches == "one batch":
        exporter.export([inner, outer])
    else:
        exporter.export([inner])
        exporter.export([outer])
    [line] = lines(sessions_dir)
    assert counts(line) == (60, 40, 0, 50, 20)
    assert inner.context is not None
    assert line["span_id"] == f"{inner.context.span_id:016x}"


def test_nested_spans_of_another_model_or_provider_are_separate_calls(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path
) -> None:
    """A router span of one model around a call to another model, or a span of another
    provider, is not the same call; nor are two sibling spans of the same model."""
    pairs = [
        ((LANGCHAIN, _inference("claude-opus-4-8", "anthropic")), (OURS, _ours("id-1"))),
        ((LANGCHAIN, _inference("gpt-5")), (OURS, _ours("id-2"))),
    ]
    for outer, inner in pairs:
        exporter.export(list(spans.nested(outer, inner)))
    exporter.export(
        [spans.make(OPENINFERENCE, _inference()), spans.make(OPENINFERENCE, _inference())]
    )
    assert len(lines(sessions_dir)) == 6


def test_the_memory_of_written_calls_is_bounded(spans: Spans) -> None:
    """A later span of a call is recognised while the call is among the last `capacity`
    calls remembered, and forgotten once about twice as many came after it."""
    merger = CallMerger(capacity=4)

    def call(response_id: str) -> Call:
        span = spans.make(OURS, chat_attributes(**{a.GEN_AI_RESPONSE_ID: response_id}))
        attrs = span_attributes(span)
        line = extract_line(span, attrs)
        assert line is not None
        return (attrs, line, span)

    assert len(merger.merge([call("old")])) == 1
    assert merger.merge([call("old")]) == []
    for n in range(3):
        merger.merge([call(f"new-{n}")])
    assert merger.merge([call("old")]) == []
    for n in range(30):
        merger.merge([call(f"newer-{n}")])
    assert len(merger.merge([call("old")])) == 1


@pytest.mark.parametrize("batches", ["one batch", "one span per batch"])
def test_nested_spans_with_two_response_ids_are_two_calls(
    exporter: TokenUsageSpanExporter, spans: Spans, sessions_dir: Path, batches: str
) -> None:
    """A context left attached by some instrumentation (openai-v2's streams leave their
    parent's) can make the next call of the same model a "child" of a span still open:
    two different response ids say they are two calls."""
    tracer = spans.provider.get_tracer(OURS)
    with tracer.start_as_current_span("chat", attributes=_ours("id-1")):
        second = spans.make(OURS, _ours("id-2"))
    first = spans.memory.get_finished_spans()[-1]
    assert second.parent is not None and first.context is not None
    assert second.parent.span_id == first.context.span_id
    if batches == "one batch":
        exporter.export([second, first])
    else:
        exporter.export([second])
        exporter.export([first])
    assert len(lines(sessions_dir)) == 2
