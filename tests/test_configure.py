"""configure(): the session log, token metrics and OTLP forwarding to a real OTLP receiver
on 127.0.0.1 (HTTP/protobuf and gRPC), and isolation from collectors that are dead, hang,
refuse or answer garbage. Anything that sets global providers runs in a subprocess."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from otel_token_usage import TokenUsagePipeline, configure
from otel_token_usage import semconv as a
from otel_token_usage import semconv as m
from otel_token_usage.pipeline import _otlp
from otel_token_usage.pipeline._otlp import OtlpSettings
from otel_token_usage.record import LOG_FILE_NAME

from .helpers import chat_attributes, read_lines
from .otlp_receiver import GarbageServer, GrpcReceiver, HttpReceiver, dead_endpoint, points, spans
from .test_metrics import ATTRS, expected_sums, key_of, written

PROTOCOLS = ["http/protobuf", "grpc"]
DELTA, CUMULATIVE = 1, 2  # AggregationTemporality in the OTLP protobuf
SRC = str(Path(__file__).resolve().parents[1] / "src")


def receiver_for(protocol: str, mode: Any = "ok") -> HttpReceiver | GrpcReceiver:
    return HttpReceiver(mode) if protocol == "http/protobuf" else GrpcReceiver(mode)


def emit(pipeline: TokenUsagePipeline, count: int, session: str = "sess-1") -> None:
    """LLM calls from the application's thread, through the pipeline's tracer provider."""
    tracer = pipeline.tracer_provider.get_tracer("app")
    for index in range(count):
        attrs = chat_attributes(**{"gen_ai.conversation.id": session})
        attrs["gen_ai.response.id"] = f"msg_{session}_{index}_{time.monotonic_ns()}"
        with tracer.start_as_current_span("chat claude-opus-4-8", kind=SpanKind.CLIENT) as span:
            span.set_attributes(attrs)


@pytest.fixture
def pipelines() -> Iterator[list[TokenUsagePipeline]]:
    """Pipelines a test made; shut down (quickly) whatever the test left running."""
    made: list[TokenUsagePipeline] = []
    yield made
    for pipeline in made:
        pipeline.shutdown(timeout_millis=500)


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_traces_and_metrics_arrive_together(
    protocol: str, temporality: str, sessions_dir: Path, pipelines: list[TokenUsagePipeline]
) -> None:
    """Over both protocols the receiver gets the spans and the token metrics of the same
    calls: names, units, the asked temporality, service.name, and per attribute set the
    values of the lines written to the session logs; no point carries a session id; the
    histogram's exemplars name the received traces."""
    receiver = receiver_for(protocol)
    try:
        pipeline = configure(
            sessions_dir,
            set_global=False,
            service_name="agent-svc",
            endpoint=receiver.endpoint,
            headers={"x-tenant": "team-7"},
            protocol=protocol,
            temporality=temporality,
            export_timeout_s=10,
            metric_export_interval_ms=600_000,  # only flush and shutdown export
        )
        pipelines.append(pipeline)
        emit(pipeline, 2, "sess-1")
        emit(pipeline, 1, "sess-2")
        assert pipeline.shutdown() is True
        assert receiver.wait_for(lambda: bool(receiver.traces and receiver.metrics))
    finally:
        receiver.close()

    lines = written(sessions_dir)
    assert len(lines) == 3
    assert {h.get("x-tenant") for h in receiver.headers} == {"team-7"}
    received_spans = [attrs for _span, attrs in spans(receiver.traces)]
    assert sorted(s[a.GEN_AI_CONVERSATION_ID] for s in received_spans) == [
        "sess-1",
        "sess-1",
        "sess-2",
    ]
    trace_ids = {span.trace_id.hex() for span, _attrs in spans(receiver.traces)}
    assert {line["trace_id"] for line in lines} == trace_ids

    got = list(points(receiver.metrics))
    assert {p.service_name for p in got} == {"agent-svc"}
    assert {p.metric for p in got} == {m.TOKEN_USAGE, m.COST, *m.COUNTERS}
    units = {p.metric: p.unit for p in got}
    assert units == {m.COST: "USD"} | {name: "{token}" for name in (m.TOKEN_USAGE, *m.COUNTERS)}
    wanted = DELTA if temporality == "delta" else CUMULATIVE
    assert {p.temporality for p in got} == {wanted}
    for point in got:
        assert "sess-1" not in map(str, point.attributes.values())
        assert set(point.attributes) <= {*m.METRIC_ATTRIBUTES, a.GEN_AI_TOKEN_TYPE}

    expected = expected_sums(lines, ATTRS)
    for index, name in enumerate(m.COUNTERS):
        values = {key_of(p.attributes): p.value for p in got if p.metric == name}
        assert values == {key: sums[index] for key, sums in expected.items()}, name
    histogram = [p for p in got if p.metric == m.TOKEN_USAGE]
    inputs = [p for p in histogram if p.attributes[a.GEN_AI_TOKEN_TYPE] == m.TOKEN_TYPE_INPUT]
    assert sum(p.count for p in inputs) == 3
    assert sum(p.value for p in inputs) == sum(sums[0] for sums in expected.values())
    exemplar_traces = {trace for p in histogram for trace in p.exemplar_trace_ids}
    assert exemplar_traces and exemplar_traces <= trace_ids


FAILURES = ["dead", "hang", "refuse", "garbage"]
EXPORT_TIMEOUT_S = 30.0  # an export alone could block this long...
SHUTDOWN_TIMEOUT_S = 1.0  # ...but shutdown must not


@pytest.mark.slow
@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_broken_collector_costs_no_line_and_no_time(
    protocol: str, failure: str, sessions_dir: Path, pipelines: list[TokenUsagePipeline]
) -> None:
    """With the collector dead, hanging, refusing or answering garbage, the application's
    spans end at once, every line reaches the session log while the collector misbehaves,
    and shutdown returns within its timeout although one export alone may take 30 s."""
    server: HttpReceiver | GrpcReceiver | GarbageServer | None = None
    if failure == "dead":
        endpoint = dead_endpoint()
    elif failure == "garbage":
        server = GarbageServer()
        endpoint = server.endpoint
    else:
        server = receiver_for(protocol, failure)
        endpoint = server.endpoint
    try:
        pipeline = configure(
            sessions_dir,
            set_global=False,
            endpoint=endpoint,
            protocol=protocol,
            export_timeout_s=EXPORT_TIMEOUT_S,
            shutdown_timeout_s=SHUTDOWN_TIMEOUT_S,
            metric_export_interval_ms=600_000,
        )
        pipelines.append(pipeline)
        emit(pipeline, 5)
        # Drive traces and metrics towards the broken collector, off the test's thread.
        pusher = threading.Thread(target=pipeline.force_flush, daemon=True)
        pusher.start()
        if isinstance(server, HttpReceiver | GrpcReceiver):
            assert server.wait_for(lambda: server.attempts >= 1)
        elif isinstance(server, GarbageServer):
            assert server.wait_for(lambda: server.connections >= 1)
        emit(pipeline, 20)
        assert pipeline.span_processor.force_flush()
        if failure == "hang":
            assert isinstance(server, HttpReceiver | GrpcReceiver)
            assert server.in_flight >= 1  # the lines above were written while it held on
        assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 25

        started = time.monotonic()
        pipeline.shutdown()
        took = time.monotonic() - started
        assert took < EXPORT_TIMEOUT_S / 3, f"shutdown took {took:.1f} s"
        assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 25
    finally:
        if server is not None:
            server.close()


def test_export_failures_are_throttled_log_lines(
    sessions_dir: Path,
    pipelines: list[TokenUsagePipeline],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A collector that keeps refusing is reported, and costs the same few log lines
    after five rounds of exports as after one, not one per export."""
    # Start from a clean throttle: earlier tests' messages must not hide the first round.
    monkeypatch.setattr(_otlp._FILTER._throttle, "_state", {})
    receiver = HttpReceiver("refuse")
    try:
        pipeline = configure(
            sessions_dir,
            set_global=False,
            endpoint=receiver.endpoint,
            export_timeout_s=0.5,
            metric_export_interval_ms=600_000,
        )
        pipelines.append(pipeline)

        def sdk_lines() -> int:
            return sum(r.name.startswith("opentelemetry") for r in caplog.records)

        with caplog.at_level(logging.WARNING):
            emit(pipeline, 1)
            pipeline.force_flush()
            after_one = sdk_lines()
            assert after_one >= 1
            for _ in range(4):
                emit(pipeline, 1)
                pipeline.force_flush()
            assert sdk_lines() == after_one
        assert receiver.attempts >= 10  # traces and metrics, five rounds
        assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 5
    finally:
        receiver.close()


def test_bad_arguments_raise() -> None:
    """A bad protocol, temporality, timeout or endpoint argument is a ValueError."""
    for bad in (
        {"protocol": "http/json"},
        {"temporality": "sometimes"},
        {"export_timeout_s": 0},
        {"metric_export_interval_ms": -1},
        {"endpoint": ""},
        {"shutdown_timeout_s": 0},
    ):
        with pytest.raises(ValueError):
            configure(set_global=False, otlp_metrics=True, **bad)


def resolve(env: dict[str, str], **arguments: Any) -> OtlpSettings:
    given: dict[str, Any] = {
        "traces": None,
        "metrics": None,
        "protocol": None,
        "endpoint": None,
        "headers": None,
        "timeout_s": None,
        "interval_ms": None,
        "temporality": None,
    }
    given.update(arguments)
    return OtlpSettings.resolve(environ=env, **given)


def test_which_signals_are_forwarded(caplog: pytest.LogCaptureFixture) -> None:
    """Argument, else OTEL_<SIGNAL>_EXPORTER, else an endpoint; protocol argument, else the
    signal's variable, else the general one, else http/protobuf; a bad variable warns."""
    assert resolve({}) == OtlpSettings()
    on = resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert (on.traces, on.metrics, on.traces_protocol) == (True, True, "http/protobuf")
    assert not resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "x"}, traces_default=False).traces
    assert resolve({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "x"}).traces is False
    listed = resolve({"OTEL_TRACES_EXPORTER": "console,otlp", "OTEL_METRICS_EXPORTER": "none"})
    assert (listed.traces, listed.metrics) == (True, False)
    assert resolve({"OTEL_EXPORTER_OTLP_ENDPOINT": "x"}, metrics=False).metrics is False
    both = resolve(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
        }
    )
    assert (both.traces_protocol, both.metrics_protocol) == ("grpc", "http/protobuf")
    assert resolve(
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, protocol="http/protobuf"
    ).traces_protocol == ("http/protobuf")
    with caplog.at_level(logging.WARNING):
        assert (
            resolve({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}).traces_protocol == "http/protobuf"
        )
    assert any("OTEL_EXPORTER_OTLP_PROTOCOL" in r.getMessage() for r in caplog.records)


def run_script(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full_env.update(env)
    full_env["PYTHONPATH"] = SRC
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=full_env,
    )


CALL = """
from opentelemetry import trace
from opentelemetry.trace import SpanKind

def call(session="s"):
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
             "gen_ai.request.model": "claude-opus-4-8", "gen_ai.conversation.id": session,
             "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 800,
             "gen_ai.usage.output_tokens": 20}
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("chat claude-opus-4-8", kind=SpanKind.CLIENT,
                                      attributes=attrs):
        pass
"""


def test_configure_twice_installs_one_global_pipeline(tmp_path: Path) -> None:
    """The second configure() returns the first pipeline: one global tracer and meter
    provider, one line and one span per call, metrics counted once."""
    receiver = HttpReceiver()
    script = CALL + textwrap.dedent(
        """
        import sys
        from opentelemetry import metrics
        from otel_token_usage import configure
        first = configure(sys.argv[1], endpoint=sys.argv[2], metric_export_interval_ms=600000)
        second = configure(sys.argv[1], endpoint=sys.argv[2])
        assert second is first
        assert trace.get_tracer_provider() is first.tracer_provider
        assert metrics.get_meter_provider() is first.meter_provider
        call()
        call()
        assert first.shutdown() is True
        """
    )
    try:
        result = run_script(script, {}, str(tmp_path), receiver.endpoint)
        assert result.returncode == 0, result.stderr
        assert receiver.wait_for(lambda: bool(receiver.metrics))
    finally:
        receiver.close()
    assert len(read_lines(tmp_path / "s" / LOG_FILE_NAME)) == 2
    assert len(list(spans(receiver.traces))) == 2
    (output,) = [p.value for p in points(receiver.metrics) if p.metric == m.OUTPUT_TOKENS]
    assert output == 40


def test_configure_from_the_environment_alone_flushes_at_exit(tmp_path: Path) -> None:
    """configure() with no arguments takes the sessions dir, endpoint, protocol,
    temporality and service name from the standard variables, and a process that never
    calls shutdown() still delivers its lines, spans and metrics at exit."""
    receiver = GrpcReceiver()
    env = {
        "OTEL_TOKEN_USAGE_SESSIONS_DIR": str(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        "OTEL_SERVICE_NAME": "env-svc",
    }
    script = CALL + "\nfrom otel_token_usage import configure\nconfigure()\ncall()\n"
    try:
        result = run_script(script, env)
        assert result.returncode == 0, result.stderr
        assert receiver.wait_for(lambda: bool(receiver.traces and receiver.metrics))
    finally:
        receiver.close()
    (line,) = [json.loads(x) for x in read_lines(tmp_path / "s" / LOG_FILE_NAME)]
    got = list(points(receiver.metrics))
    assert {p.temporality for p in got} == {DELTA}
    assert {p.service_name for p in got} == {"env-svc"}
    (cache_read,) = [p.value for p in got if p.metric == m.CACHE_READ_INPUT_TOKENS]
    assert cache_read == line["cache_read_input_tokens"] == 800
    assert [s.trace_id.hex() for s, _ in spans(receiver.traces)] == [line["trace_id"]]


def test_configure_joins_an_existing_global_tracer_provider(tmp_path: Path) -> None:
    """An application that already has an SDK TracerProvider keeps it and its exporters:
    configure() adds the session log and metrics to it and, unless asked, no second OTLP
    trace export."""
    receiver = HttpReceiver()
    script = CALL + textwrap.dedent(
        """
        import sys
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from otel_token_usage import configure
        own = TracerProvider()
        memory = InMemorySpanExporter()
        own.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(own)
        pipeline = configure(sys.argv[1], endpoint=sys.argv[2])
        assert pipeline.tracer_provider is own and pipeline.otlp_span_exporter is None
        call()
        assert pipeline.shutdown() is True
        assert len(memory.get_finished_spans()) == 1
        """
    )
    try:
        result = run_script(script, {}, str(tmp_path), receiver.endpoint)
        assert result.returncode == 0, result.stderr
        assert receiver.wait_for(lambda: bool(receiver.metrics))
    finally:
        receiver.close()
    assert receiver.traces == []
    assert len(read_lines(tmp_path / "s" / LOG_FILE_NAME)) == 1
    assert any(p.metric == m.INPUT_TOKENS for p in points(receiver.metrics))


def readme_block(heading: str) -> str:
    """The first python code block after `heading` in README.md."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    start = after.index("```python\n") + len("```python\n")
    return after[start : after.index("```", start)]


@pytest.mark.parametrize("heading", ["### One call: `configure()`", "### The same by hand"])
def test_readme_examples_deliver_lines_traces_and_metrics(heading: str, tmp_path: Path) -> None:
    """Both README examples, run as written (collector address and sessions dir swapped
    for the test's), write the line and deliver the span and the metrics."""
    receiver = HttpReceiver()
    code = readme_block(heading)
    code = code.replace("http://collector:4318", receiver.endpoint)
    code = code.replace('"./sessions"', repr(str(tmp_path)))
    code = code.replace("\n...", "\ncall()").replace("...  ", "call()  ")
    try:
        result = run_script(CALL + code, {})
        assert result.returncode == 0, result.stderr
        assert receiver.wait_for(lambda: bool(receiver.traces and receiver.metrics))
    finally:
        receiver.close()
    assert len(read_lines(tmp_path / "s" / LOG_FILE_NAME)) == 1
    assert [s.name for s, _ in spans(receiver.traces)] == ["chat claude-opus-4-8"]
    names = {p.metric for p in points(receiver.metrics)}
    assert {m.TOKEN_USAGE, *m.COUNTERS} <= names
