"""Token metrics recorded by the exporter, checked on a real SDK MeterProvider with an
InMemoryMetricReader against the lines written for the same spans."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.metrics import Meter, NoOpMeterProvider
from opentelemetry.metrics import MeterProvider as ApiMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.util.types import Attributes, AttributeValue

from otel_token_usage import TokenUsageSpanExporter
from otel_token_usage import semconv as a
from otel_token_usage import semconv as m
from otel_token_usage.export import TokenMetrics
from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import LOG_FILE_NAME, TokenCounts

from .helpers import MakeSpan, chat_attributes, read_lines

SESSION_VALUES = {"sess-1", "sess-2"}


@dataclass(frozen=True)
class Point:
    """One exported data point, flattened."""

    metric: str
    unit: str
    attributes: dict[str, Any]
    value: float  # counter value, or histogram sum
    count: int = 0
    bounds: tuple[float, ...] = ()
    exemplar_trace_ids: tuple[int, ...] = ()


def collect(reader: InMemoryMetricReader) -> list[Point]:
    data = reader.get_metrics_data()
    found: list[Point] = []
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes or {})
                    if isinstance(point, HistogramDataPoint):
                        traces = tuple(e.trace_id or 0 for e in point.exemplars)
                        found.append(
                            Point(
                                metric.name,
                                metric.unit or "",
                                attrs,
                                point.sum,
                                point.count,
                                tuple(point.explicit_bounds),
                                traces,
                            )
                        )
                    else:
                        assert isinstance(point, NumberDataPoint)
                        found.append(Point(metric.name, metric.unit or "", attrs, point.value))
    return found


def by_name(points: list[Point], name: str) -> dict[frozenset[tuple[str, Any]], Point]:
    return {frozenset(p.attributes.items()): p for p in points if p.metric == name}


def key_of(attributes: Mapping[str, Any]) -> frozenset[tuple[str, Any]]:
    return frozenset(attributes.items())


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider([metric_reader], shutdown_on_exit=False)
    yield provider
    provider.shutdown()


@pytest.fixture
def metered(sessions_dir: Path, meter_provider: MeterProvider) -> Iterator[TokenUsageSpanExporter]:
    exporter = TokenUsageSpanExporter(sessions_dir, meter_provider=meter_provider)
    yield exporter
    exporter.shutdown()


def three_calls(make_span: MakeSpan) -> list[ReadableSpan]:
    """Two Anthropic calls of one model and an OpenAI call whose response model differs."""
    cold: dict[str, AttributeValue] = {
        "gen_ai.conversation.id": "sess-2",
        "gen_ai.usage.input_tokens": 2_000,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_write.input_tokens": 1_900,
        "gen_ai.usage.output_tokens": 40,
        "gen_ai.usage.reasoning.output_tokens": 0,
    }
    return [
        make_span(chat_attributes()),
        make_span(chat_attributes(**cold)),
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.conversation.id": "sess-1",
                "gen_ai.usage.input_tokens": 5_000,
                "gen_ai.usage.cache_read.input_tokens": 4_096,
                "gen_ai.usage.output_tokens": 120,
                "gen_ai.usage.reasoning.output_tokens": 64,
            }
        ),
    ]


def written(sessions_dir: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for log in sorted(sessions_dir.glob(f"*/{LOG_FILE_NAME}"))
        for line in read_lines(log)
    ]


def expected_sums(
    lines: list[dict[str, Any]], models: Mapping[str, dict[str, str]]
) -> dict[Any, list[int]]:
    """Per attribute set: inclusive input, output, cache read, cache write, reasoning."""
    sums: dict[Any, list[int]] = {}
    for line in lines:
        prompt = (
            line["input_tokens"]
            + line["cache_read_input_tokens"]
            + line["cache_creation_input_tokens"]
        )
        values = [
            prompt,
            line["output_tokens"],
            line["cache_read_input_tokens"],
            line["cache_creation_input_tokens"],
            line["thinking_tokens"],
        ]
        key = key_of(models[line["model"]])
        total = sums.setdefault(key, [0] * 5)
        for index, value in enumerate(values):
            total[index] += value
    return sums


ATTRS = {
    "claude-opus-4-8": {
        a.GEN_AI_OPERATION_NAME: "chat",
        a.GEN_AI_PROVIDER_NAME: "anthropic",
        a.GEN_AI_REQUEST_MODEL: "claude-opus-4-8",
        a.GEN_AI_RESPONSE_MODEL: "claude-opus-4-8",
    },
    "gpt-4o-2024-08-06": {
        a.GEN_AI_OPERATION_NAME: "chat",
        a.GEN_AI_PROVIDER_NAME: "openai",
        a.GEN_AI_REQUEST_MODEL: "gpt-4o",
        a.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
    },
}


def test_counters_and_histogram_match_the_lines_written(
    metered: TokenUsageSpanExporter,
    make_span: MakeSpan,
    metric_reader: InMemoryMetricReader,
    sessions_dir: Path,
) -> None:
    """Each token counter equals, per attribute set, the sum over the lines written for the
    same spans (input inclusive of cache reads and writes); the histogram holds one input
    and one output measurement per call with the conventions' bucket boundaries."""
    assert metered.export(three_calls(make_span)) is SpanExportResult.SUCCESS
    lines = written(sessions_dir)
    assert len(lines) == 3
    points = collect(metric_reader)
    expected = expected_sums(lines, ATTRS)
    for index, name in enumerate(m.COUNTERS):
        counters = by_name(points, name)
        assert {key: p.value for key, p in counters.items()} == {
            key: values[index] for key, values in expected.items()
        }, name
        assert {p.unit for p in counters.values()} == {"{token}"}
    histogram = by_name(points, m.TOKEN_USAGE)
    calls = {key_of(ATTRS[line["model"]]): 0 for line in lines}
    for line in lines:
        calls[key_of(ATTRS[line["model"]])] += 1
    for key, values in expected.items():
        base = dict(key)
        as_input = histogram[key_of({**base, a.GEN_AI_TOKEN_TYPE: m.TOKEN_TYPE_INPUT})]
        as_output = histogram[key_of({**base, a.GEN_AI_TOKEN_TYPE: m.TOKEN_TYPE_OUTPUT})]
        assert (as_input.value, as_input.count) == (values[0], calls[key])
        assert (as_output.value, as_output.count) == (values[1], calls[key])
    assert len(histogram) == 2 * len(expected)
    assert {p.bounds for p in histogram.values()} == {
        (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
    }
    assert {p.unit for p in histogram.values()} == {"{token}"}


def test_data_points_carry_only_the_four_bounded_attributes(
    metered: TokenUsageSpanExporter, make_span: MakeSpan, metric_reader: InMemoryMetricReader
) -> None:
    """No data point carries a session id, trace id or any key beyond operation, provider,
    request and response model (plus gen_ai.token.type on the histogram)."""
    metered.export(three_calls(make_span))
    points = collect(metric_reader)
    assert points
    for point in points:
        allowed = set(m.METRIC_ATTRIBUTES)
        if point.metric == m.TOKEN_USAGE:
            allowed.add(a.GEN_AI_TOKEN_TYPE)
        assert set(point.attributes) <= allowed, point
        assert SESSION_VALUES.isdisjoint(map(str, point.attributes.values())), point


def test_histogram_exemplars_point_at_the_calls_traces(
    metered: TokenUsageSpanExporter, make_span: MakeSpan, metric_reader: InMemoryMetricReader
) -> None:
    """Per-call numbers stay reachable: histogram exemplars carry the span's trace id."""
    span = make_span(chat_attributes())
    metered.export([span])
    assert span.context is not None
    histogram = [p for p in collect(metric_reader) if p.metric == m.TOKEN_USAGE]
    assert histogram
    assert all(p.exemplar_trace_ids == (span.context.trace_id,) for p in histogram)


def test_cost_is_the_price_books_price_of_the_lines(
    metered: TokenUsageSpanExporter,
    make_span: MakeSpan,
    metric_reader: InMemoryMetricReader,
    sessions_dir: Path,
) -> None:
    """The USD counter equals PriceBook's cost of the same lines, per attribute set."""
    metered.export(three_calls(make_span))
    book = PriceBook()
    expected: dict[Any, float] = {}
    for line in written(sessions_dir):
        price = book.price(line["provider"], line["model"], line["ts"][:10])
        assert price is not None, line["model"]
        prompt = (
            line["input_tokens"]
            + line["cache_read_input_tokens"]
            + line["cache_creation_input_tokens"]
        )
        tokens = TokenCounts(
            input_tokens=line["input_tokens"],
            cache_read_input_tokens=line["cache_read_input_tokens"],
            cache_creation_input_tokens=line["cache_creation_input_tokens"],
            cache_creation_1h_input_tokens=line["cache_creation_1h_input_tokens"] or 0,
            output_tokens=line["output_tokens"],
        )
        key = key_of(ATTRS[line["model"]])
        dollars = float(price.cost(price.tier_of(prompt), tokens, 1))
        expected[key] = expected.get(key, 0.0) + dollars
    cost = by_name(collect(metric_reader), m.COST)
    assert {key: p.value for key, p in cost.items()} == pytest.approx(expected)
    assert {p.unit for p in cost.values()} == {"USD"}


def test_unknown_model_adds_no_cost_and_is_logged_once(
    metered: TokenUsageSpanExporter,
    make_span: MakeSpan,
    metric_reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A model without a price adds nothing to the cost counter (its token counters still
    count) and is named in one log line however many batches carry it."""
    mystery = {
        "gen_ai.request.model": "mystery-model-9",
        "gen_ai.response.model": "mystery-model-9",
    }
    with caplog.at_level(logging.WARNING, logger="otel_token_usage.export._metrics"):
        for _ in range(3):
            metered.export([make_span(chat_attributes(**mystery))])
    points = collect(metric_reader)
    assert [p for p in points if p.metric == m.COST] == []
    assert [p.value for p in points if p.metric == m.OUTPUT_TOKENS] == [900]
    assert sum("mystery-model-9" in r.getMessage() for r in caplog.records) == 1


def test_price_file_prices_a_model_the_library_does_not_know(
    sessions_dir: Path,
    tmp_path: Path,
    make_span: MakeSpan,
    meter_provider: MeterProvider,
    metric_reader: InMemoryMetricReader,
) -> None:
    """`price_file` overrides genai-prices: the cost follows the file's prices."""
    prices = tmp_path / "prices.toml"
    prices.write_text('[[models]]\nmodel = "mystery-*"\ninput_mtok = 1\noutput_mtok = 10\n')
    exporter = TokenUsageSpanExporter(
        sessions_dir, meter_provider=meter_provider, price_file=prices
    )
    attrs = {"gen_ai.request.model": "mystery-model-9", "gen_ai.response.model": "mystery-model-9"}
    exporter.export([make_span(chat_attributes(**attrs))])
    exporter.shutdown()
    (cost,) = [p.value for p in collect(metric_reader) if p.metric == m.COST]
    # 14,300 prompt tokens (cache prices fall back to input) + 300 output tokens.
    assert cost == pytest.approx((14_300 * 1 + 300 * 10) / 1_000_000)


def test_bad_price_file_argument_raises_and_bad_variable_warns(
    sessions_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As every setting: a bad argument raises, a bad environment value warns."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[[models]]\nmodel = 3\n")
    with pytest.raises(ValueError, match="price_file"):
        TokenUsageSpanExporter(sessions_dir, price_file=bad)
    monkeypatch.setenv("OTEL_TOKEN_USAGE_PRICE_FILE", str(bad))
    with caplog.at_level(logging.WARNING):
        TokenUsageSpanExporter(sessions_dir).shutdown()
    assert any("OTEL_TOKEN_USAGE_PRICE_FILE" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_metrics_can_be_switched_off(
    how: str,
    *,
    sessions_dir: Path,
    make_span: MakeSpan,
    meter_provider: MeterProvider,
    metric_reader: InMemoryMetricReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """metrics=False, or OTEL_TOKEN_USAGE_METRICS=false, records nothing; lines still go."""
    if how == "environment":
        monkeypatch.setenv("OTEL_TOKEN_USAGE_METRICS", "FALSE")
        exporter = TokenUsageSpanExporter(sessions_dir, meter_provider=meter_provider)
    else:
        exporter = TokenUsageSpanExporter(
            sessions_dir, meter_provider=meter_provider, metrics=False
        )
    assert exporter.export([make_span(chat_attributes())]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert collect(metric_reader) == []
    assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 1


def test_bad_metrics_values(
    sessions_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad metrics argument raises; a bad variable warns and keeps metrics on."""
    with pytest.raises(ValueError, match="metrics"):
        TokenUsageSpanExporter(sessions_dir, metrics="no")  # type: ignore[arg-type]
    monkeypatch.setenv("OTEL_TOKEN_USAGE_METRICS", "maybe")
    with caplog.at_level(logging.WARNING):
        exporter = TokenUsageSpanExporter(sessions_dir)
    assert exporter.settings.metrics is True
    assert any("OTEL_TOKEN_USAGE_METRICS" in r.getMessage() for r in caplog.records)


def test_a_call_seen_twice_counts_once(
    metered: TokenUsageSpanExporter, make_span: MakeSpan, metric_reader: InMemoryMetricReader
) -> None:
    """Two spans with the same gen_ai.response.id are one line and one call in the metrics."""
    attrs = chat_attributes(**{"gen_ai.response.id": "msg_1"})
    metered.export([make_span(attrs), make_span(attrs)])
    metered.export([make_span(attrs)])
    assert [p.value for p in collect(metric_reader) if p.metric == m.OUTPUT_TOKENS] == [300]


def test_other_producers_get_an_operation_and_a_request_model(
    metered: TokenUsageSpanExporter, make_span: MakeSpan, metric_reader: InMemoryMetricReader
) -> None:
    """An OpenInference LLM span is a chat with the record's model as request model; an
    OpenLLMetry completion is a text_completion."""
    metered.export(
        [
            make_span(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.provider": "openai",
                    "llm.token_count.prompt": 100,
                    "llm.token_count.completion": 5,
                    "session.id": "sess-2",
                }
            ),
            make_span(
                {
                    "llm.request.type": "completion",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-3.5-turbo-instruct",
                    "gen_ai.usage.prompt_tokens": 10,
                    "gen_ai.usage.completion_tokens": 2,
                }
            ),
        ]
    )
    sets = {
        frozenset(p.attributes.items())
        for p in collect(metric_reader)
        if p.metric == m.INPUT_TOKENS
    }
    assert sets == {
        key_of(
            {
                a.GEN_AI_OPERATION_NAME: "chat",
                a.GEN_AI_PROVIDER_NAME: "openai",
                a.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            }
        ),
        key_of(
            {
                a.GEN_AI_OPERATION_NAME: "text_completion",
                a.GEN_AI_PROVIDER_NAME: "openai",
                a.GEN_AI_REQUEST_MODEL: "gpt-3.5-turbo-instruct",
            }
        ),
    }


class _BrokenMeterProvider(ApiMeterProvider):
    """A third-party provider whose meters cannot be had."""

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Meter:
        raise RuntimeError("this provider is broken")


def test_a_failing_meter_provider_never_costs_a_line(
    sessions_dir: Path, make_span: MakeSpan, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider that raises is one throttled error; the batch's lines are written and
    export reports SUCCESS, batch after batch."""
    exporter = TokenUsageSpanExporter(sessions_dir, meter_provider=_BrokenMeterProvider())
    with caplog.at_level(logging.ERROR, logger="otel_token_usage.export._metrics"):
        results = [exporter.export([make_span(chat_attributes())]) for _ in range(3)]
    exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 3
    assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 3
    assert len(caplog.records) == 1


def test_no_op_provider_is_inactive() -> None:
    """The API's no-op provider means no metrics work at all on the export path."""
    assert not TokenMetrics(NoOpMeterProvider()).active()


GLOBAL_PROVIDER_SCRIPT = textwrap.dedent(
    """
    import sys
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind
    from otel_token_usage import TokenUsageSpanExporter

    exporter = TokenUsageSpanExporter(sys.argv[1])
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")

    def call():
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": "gpt-4o", "gen_ai.conversation.id": "s",
                 "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 3}
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attrs):
            pass

    call()
    assert exporter._metrics is not None and not exporter._metrics.active()
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider([reader]))
    call()
    call()
    data = reader.get_metrics_data()
    names = {
        metric.name: [p.value for p in metric.data.data_points]
        for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
        if metric.name == "gen_ai.client.inference.usage.output_tokens"
    }
    print(names)
    """
)


def test_global_provider_is_followed_once_it_is_set(tmp_path: Path) -> None:
    """With no meter_provider the exporter follows the global one: nothing is recorded
    before it is set (a no-op), every later call after (a fresh process: globals)."""
    result = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER_SCRIPT, str(tmp_path / "sessions")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{{'{m.OUTPUT_TOKENS}': [6]}}"
    assert len(read_lines(tmp_path / "sessions" / "s" / LOG_FILE_NAME)) == 3
