"""Trace sampling costs no line and no token metric: `TokenUsageSampler` records the LLM
calls of unsampled traces, `TokenUsageSpanProcessor` exports them, and OTLP still gets
only the sampled traces.

Real SDK providers, samplers and processors; a real OTLP/HTTP receiver on 127.0.0.1; a
real MeterProvider with an InMemoryMetricReader; the real Anthropic SDK's native spans
against `otel_token_usage.testing.FakeProvider`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_ON,
    Decision,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    set_span_in_context,
)

from otel_token_usage import (
    TokenUsageSampler,
    TokenUsageSpanExporter,
    TokenUsageSpanProcessor,
    configure,
)
from otel_token_usage import semconv as m
from otel_token_usage.export._sampling import (
    follows_sampling,
    named_sampler,
    warn_if_lines_follow_sampling,
)
from otel_token_usage.record import LOG_FILE_NAME

from .otlp_receiver import HttpReceiver, points, spans

RATE = 0.01
CALLS = 1_000
LOW_64 = (1 << 64) - 1
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "p", "gen_ai.request.model": "m"}


def lines_of(sessions: Path, session: str) -> list[dict[str, Any]]:
    path = sessions / session / LOG_FILE_NAME
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def sampled_at(rate: float, trace_id: int) -> bool:
    """The SDK's TraceIdRatioBased decision for a root span of `trace_id`."""
    return trace_id & LOW_64 < TraceIdRatioBased.get_bound_for_rate(rate)


def metric_sums(reader: InMemoryMetricReader) -> tuple[dict[str, float], set[str]]:
    """Counter values (and histogram counts, under `<name>.count`) summed over points,
    and the trace ids of the histogram's exemplars."""
    data = reader.get_metrics_data()
    sums: dict[str, float] = {}
    exemplars: set[str] = set()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        key = f"{metric.name}.count"
                        sums[key] = sums.get(key, 0) + point.count
                        exemplars |= {f"{e.trace_id:032x}" for e in point.exemplars}
                    elif isinstance(point, NumberDataPoint):
                        sums[metric.name] = sums.get(metric.name, 0) + point.value
    return sums, exemplars


def run_calls(provider: TracerProvider, calls: int, session: str = "s") -> None:
    """`calls` requests, each a root server span with one LLM chat span (attributes at
    start, usage at end, as instrumentations do) that makes one HTTP client call."""
    tracer = provider.get_tracer("app")
    for index in range(calls):
        with (
            tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER),
            tracer.start_as_current_span(
                "chat m",
                kind=SpanKind.CLIENT,
                attributes={**CHAT, m.GEN_AI_CONVERSATION_ID: session},
            ) as chat,
        ):
            with tracer.start_as_current_span("POST /v1/messages", kind=SpanKind.CLIENT):
                pass
            chat.set_attributes(
                {"gen_ai.usage.input_tokens": 100 + index, "gen_ai.usage.output_tokens": 1 + index}
            )


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


def test_every_call_is_a_line_and_a_metric_at_one_percent_sampling(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    """parentbased_traceidratio at 0.01, wrapped: 1,000 calls give 1,000 lines and token
    counters that add up to all 1,000, while the OTLP receiver gets only the sampled
    traces (about 10), each whole, and no span of an unsampled one."""
    reader = InMemoryMetricReader()
    meters = MeterProvider([reader])
    provider = TracerProvider(sampler=TokenUsageSampler(ParentBasedTraceIdRatio(RATE)))
    provider.add_span_processor(
        TokenUsageSpanProcessor(TokenUsageSpanExporter(tmp_path, meter_provider=meters))
    )
    otlp = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(otlp))
    run_calls(provider, CALLS)
    provider.shutdown()

    lines = lines_of(tmp_path, "s")
    assert len(lines) == CALLS
    assert sorted(line["output_tokens"] for line in lines) == list(range(1, CALLS + 1))
    sums, exemplars = metric_sums(reader)
    assert sums[m.OUTPUT_TOKENS] == sum(range(1, CALLS + 1))
    assert sums[m.INPUT_TOKENS] == sum(range(100, 100 + CALLS))
    assert sums[f"{m.TOKEN_USAGE}.count"] == 2 * CALLS  # input and output per call
    meters.shutdown()

    expected = {line["trace_id"] for line in lines if sampled_at(RATE, int(line["trace_id"], 16))}
    assert 1 <= len(expected) <= 40  # about 10 of 1,000
    assert exemplars and exemplars <= expected  # exemplars link only to exported traces
    got = [(span.trace_id.hex(), span.name) for span, _ in spans(receiver.traces)]
    assert {trace_id for trace_id, _ in got} == expected
    assert len(got) == 3 * len(expected)  # root, chat and HTTP span of each sampled trace


def test_without_our_sampler_lines_follow_the_sample(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What does not hold without `TokenUsageSampler`: the SDK's sampler drops the
    unsampled traces' LLM spans before any processor sees them, so the log holds only
    the sample; `warn_if_lines_follow_sampling` says so, once."""
    provider = TracerProvider(sampler=ParentBasedTraceIdRatio(RATE))
    exporter = TokenUsageSpanExporter(tmp_path)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    run_calls(provider, CALLS)
    provider.shutdown()
    lines = lines_of(tmp_path, "s") if (tmp_path / "s").exists() else []
    assert len(lines) == sum(sampled_at(RATE, int(x["trace_id"], 16)) for x in lines) < 40
    with caplog.at_level(logging.WARNING, logger="otel_token_usage"):
        assert warn_if_lines_follow_sampling(provider, exporter)
        assert warn_if_lines_follow_sampling(provider, exporter)
    assert len(caplog.records) == 1
    assert "TokenUsageSampler" in caplog.records[0].getMessage()


def test_our_sampler_behind_a_plain_batch_processor_is_named_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With our sampler but the SDK's batch processor, recorded-only spans are dropped by
    the processor: the warning names the processor. With an always-on sampler, or our
    sampler and our processor, there is nothing to warn about."""
    ours = TracerProvider(sampler=TokenUsageSampler(ParentBasedTraceIdRatio(RATE)))
    plain = TokenUsageSpanExporter("unused")
    fed = TokenUsageSpanExporter("unused")
    processor: SpanProcessor = TokenUsageSpanProcessor(fed)
    with caplog.at_level(logging.WARNING, logger="otel_token_usage"):
        assert not warn_if_lines_follow_sampling(TracerProvider(sampler=ALWAYS_ON), plain)
        assert not warn_if_lines_follow_sampling(ours, fed)
        assert warn_if_lines_follow_sampling(ours, plain)
    (record,) = caplog.records
    assert "TokenUsageSpanProcessor" in record.getMessage()
    processor.shutdown()
    plain.shutdown()


def describe(sampler: Sampler) -> str:
    return sampler.get_description()


def decision(sampler: Sampler, attributes: dict[str, Any], parent: Context | None = None) -> Any:
    return sampler.should_sample(parent, 0x1234 << 64 | LOW_64, "span", None, attributes).decision


def parent(sampled: bool, remote: bool = False) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    context = SpanContext(7 << 64 | LOW_64, 9, is_remote=remote, trace_flags=flags)
    return set_span_in_context(NonRecordingSpan(context))


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.operation.name": "chat"},
        {"gen_ai.operation.name": "text_completion"},
        {"openinference.span.kind": "LLM"},
        {"llm.request.type": "chat"},
    ],
)
def test_dropped_llm_spans_are_recorded_only(attributes: dict[str, Any]) -> None:
    """An LLM call by its start attributes is recorded (not sampled) where the inner
    sampler drops it: at the root, under an unsampled local or remote parent; where
    the inner sampler samples, it stays sampled."""
    sampler = TokenUsageSampler(ParentBasedTraceIdRatio(RATE))
    assert decision(sampler, attributes) is Decision.RECORD_ONLY  # root, trace id not sampled
    for remote in (False, True):
        assert decision(sampler, attributes, parent(False, remote)) is Decision.RECORD_ONLY
        assert decision(sampler, attributes, parent(True, remote)) is Decision.RECORD_AND_SAMPLE
    result = sampler.should_sample(None, 5, "chat", None, attributes)
    assert dict(result.attributes) == attributes  # the span keeps its start attributes


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"http.request.method": "POST"},
        {"gen_ai.operation.name": "invoke_agent"},
        {"gen_ai.operation.name": "execute_tool"},
        {"gen_ai.operation.name": "embeddings"},
        {"llm.request.type": "chat", "traceloop.span.kind": "workflow"},
    ],
)
def test_other_dropped_spans_stay_dropped(attributes: dict[str, Any]) -> None:
    """Agent, tool, embedding, HTTP and unnamed spans keep the inner sampler's DROP."""
    sampler = TokenUsageSampler(ALWAYS_OFF)
    assert decision(sampler, attributes) is Decision.DROP
    assert decision(sampler, attributes, parent(False)) is Decision.DROP


def test_sampler_names_for_otel_traces_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every built-in name gets a `token_usage_` twin that wraps it; `token_usage` wraps
    what OTEL_TOKEN_USAGE_SAMPLER names; unknown names are the SDK's default."""
    wrapped = named_sampler("token_usage_parentbased_traceidratio", "0.25")
    assert isinstance(wrapped, TokenUsageSampler)
    assert (
        wrapped.get_description()
        == f"TokenUsageSampler{{{describe(ParentBasedTraceIdRatio(0.25))}}}"
    )
    for name in ("always_on", "always_off", "parentbased_always_off", "traceidratio"):
        sampler = named_sampler(f"token_usage_{name}", "0.5")
        assert isinstance(sampler, TokenUsageSampler)
        assert sampler.inner.get_description() == named_sampler(name, "0.5").get_description()
    monkeypatch.setenv("OTEL_TOKEN_USAGE_SAMPLER", "traceidratio")
    plain = named_sampler("token_usage", "0.1")
    assert isinstance(plain, TokenUsageSampler)
    assert plain.inner.get_description() == "TraceIdRatioBased{0.1}"
    assert named_sampler("no_such_sampler").get_description() == describe(DEFAULT_ON)
    assert named_sampler("traceidratio", "2").get_description() == "TraceIdRatioBased{1.0}"
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "token_usage_parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    from_env = TokenUsageSampler()  # the env names ours: wrapped once, not twice
    assert from_env.inner.get_description() == describe(ParentBasedTraceIdRatio(0.5))


def test_follows_sampling() -> None:
    assert not follows_sampling(ALWAYS_ON)
    assert not follows_sampling(named_sampler("always_on"))
    assert not follows_sampling(TokenUsageSampler(ALWAYS_OFF))
    assert follows_sampling(DEFAULT_ON)  # drops the children of an unsampled caller
    assert follows_sampling(TraceIdRatioBased(0.5))


def test_configure_wires_the_sampler_and_the_processor(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    """configure(sampler=...) wraps it: every call a line and a metric over OTLP, only the
    sampled traces over OTLP."""
    pipeline = configure(
        tmp_path,
        set_global=False,
        sampler=ParentBasedTraceIdRatio(RATE),
        endpoint=receiver.endpoint,
        metric_export_interval_ms=600_000,
    )
    assert isinstance(pipeline.tracer_provider.sampler, TokenUsageSampler)
    run_calls(pipeline.tracer_provider, CALLS)
    assert pipeline.shutdown() is True
    lines = lines_of(tmp_path, "s")
    assert len(lines) == CALLS
    (output,) = [p.value for p in points(receiver.metrics) if p.metric == m.OUTPUT_TOKENS]
    assert output == sum(range(1, CALLS + 1))
    expected = {x["trace_id"] for x in lines if sampled_at(RATE, int(x["trace_id"], 16))}
    assert {span.trace_id.hex() for span, _ in spans(receiver.traces)} == expected


# --- the Anthropic SDK's native spans ---

NATIVE_CALLS = 300


@pytest.mark.slow
def test_native_anthropic_spans_are_lines_whatever_the_sampling(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    """The real Anthropic SDK tracing natively into a sampled provider: every call one
    line with the usage the server sent, token counters over all calls, and OTLP gets
    only the sampled requests' traces."""
    anthropic = pytest.importorskip("anthropic")
    from otel_token_usage.testing import FakeClock, FakeProvider

    reader = InMemoryMetricReader()
    meters = MeterProvider([reader])
    provider = TracerProvider(sampler=TokenUsageSampler(ParentBasedTraceIdRatio(RATE)))
    provider.add_span_processor(
        TokenUsageSpanProcessor(TokenUsageSpanExporter(tmp_path, meter_provider=meters))
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    )
    tracer = provider.get_tracer("app")
    with FakeProvider(clock=FakeClock()) as fake:
        client = anthropic.Anthropic(
            base_url=fake.base_url,
            api_key="test",
            max_retries=0,
            open_telemetry={"tracer_provider": provider, "conversation_id": "native"},
        )
        for index in range(NATIVE_CALLS):
            with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
                client.messages.create(
                    model="claude-fake-1",
                    max_tokens=64,
                    messages=[{"role": "user", "content": f"question {index}"}],
                )
        sent = [response.usage or {} for response in fake.responses]
    provider.shutdown()

    lines = lines_of(tmp_path, "native")
    assert len(lines) == len(sent) == NATIVE_CALLS
    assert [x["output_tokens"] for x in lines] == [u["output_tokens"] for u in sent]
    assert metric_sums(reader)[0][m.OUTPUT_TOKENS] == sum(u["output_tokens"] for u in sent)
    meters.shutdown()
    expected = {x["trace_id"] for x in lines if sampled_at(RATE, int(x["trace_id"], 16))}
    got = [(span.trace_id.hex(), span.name) for span, _ in spans(receiver.traces)]
    assert {trace_id for trace_id, _ in got} == expected
    assert sorted(name for _, name in got) == sorted(
        ["POST /ask", "anthropic.messages.create"] * len(expected)
    )


# --- a hand-built pipeline warns once when its lines follow the sample ---

HAND_BUILT = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
    from otel_token_usage import TokenUsageSampler, TokenUsageSpanExporter, TokenUsageSpanProcessor

    ours = sys.argv[2] == "ours"
    sampler = ParentBasedTraceIdRatio(0.5)
    provider = TracerProvider(sampler=TokenUsageSampler(sampler) if ours else sampler)
    exporter = TokenUsageSpanExporter(sys.argv[1])
    provider.add_span_processor(
        TokenUsageSpanProcessor(exporter) if ours else BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("app")
    for batch in range(3):
        for _ in range(20):
            with tracer.start_as_current_span("chat m", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.conversation.id": "s"}) as span:
                span.set_attribute("gen_ai.usage.output_tokens", 1)
        provider.force_flush()
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["plain", "ours"])
def test_a_hand_built_pipeline_that_follows_sampling_warns_once(
    pipeline: str, tmp_path: Path
) -> None:
    """The global provider's sampler drops LLM calls and our exporter is attached: one
    warning over three batches; with our sampler and processor, none and every line."""
    done = subprocess.run(
        [sys.executable, "-c", HAND_BUILT, str(tmp_path), pipeline],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warnings = done.stderr.count("can drop LLM-call spans")
    lines = len(lines_of(tmp_path, "s"))
    if pipeline == "ours":
        assert (warnings, lines) == (0, 60)
    else:
        assert warnings == 1
        assert lines < 60
