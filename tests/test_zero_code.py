"""Zero code gets what configure() gets: `opentelemetry-instrument` with our configurator
stamps `session()` onto any producer's spans and writes every LLM call whatever the trace
sampling; with any configurator, a short run's token metrics are not lost.

Each case runs a real `opentelemetry-instrument python app.py` in a subprocess, with a
real OTLP/HTTP receiver on 127.0.0.1 for the traces and metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from otel_token_usage import semconv as m
from otel_token_usage.record import LOG_FILE_NAME

from .otlp_receiver import HttpReceiver, points, spans

pytestmark = pytest.mark.slow  # subprocesses and real servers: `make test` runs them

BIN = Path(sys.executable).parent
RATE = 0.01
CALLS = 1_000
LOW_64 = (1 << 64) - 1

# An app with hand-written chat spans (a producer that is not ours), each in its own
# request trace, inside session("x"); it exits at once, so its spans leave only at exit.
APP = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from otel_token_usage import session

    calls = int(sys.argv[1])
    tracer = trace.get_tracer("hand-written")
    print(trace.get_tracer_provider().sampler.get_description())
    with session("x", message_count=3):
        for index in range(calls):
            with tracer.start_as_current_span("POST /ask", kind=trace.SpanKind.SERVER):
                with tracer.start_as_current_span(
                    "chat gpt-4o",
                    kind=trace.SpanKind.CLIENT,
                    attributes={"gen_ai.operation.name": "chat",
                                "gen_ai.provider.name": "openai",
                                "gen_ai.request.model": "gpt-4o"},
                ) as span:
                    span.set_attributes({"gen_ai.usage.input_tokens": 100,
                                         "gen_ai.usage.output_tokens": 1 + index})
    """
)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.close()


def instrument(
    tmp_path: Path, receiver: HttpReceiver, calls: int, **env: str
) -> subprocess.CompletedProcess[str]:
    """`opentelemetry-instrument python app.py <calls>` with OTLP/HTTP to `receiver`."""
    app = tmp_path / "app.py"
    app.write_text(APP, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base.update(
        OTEL_TRACES_EXPORTER="otlp,token_usage",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="none",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="600000",  # metrics leave only at exit
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="*",  # no provider SDK in this app
        OTEL_TOKEN_USAGE_SESSIONS_DIR=str(tmp_path / "sessions"),
    )
    base.update(env)
    done = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(app), str(calls)],
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def lines_of(tmp_path: Path, session: str) -> list[dict[str, Any]]:
    path = tmp_path / "sessions" / session / LOG_FILE_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def output_tokens(receiver: HttpReceiver) -> float:
    (total,) = [p.value for p in points(receiver.metrics) if p.metric == m.OUTPUT_TOKENS]
    return total


def sampled(trace_id: str) -> bool:
    return int(trace_id, 16) & LOW_64 < TraceIdRatioBased.get_bound_for_rate(RATE)


def at_one_percent(
    tmp_path: Path, receiver: HttpReceiver, configurator: str, sampler: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """`CALLS` calls under `configurator` with `sampler` at 1 %, which must be ours
    (built from OTEL_TRACES_SAMPLER); the run and the lines of session "x"."""
    done = instrument(
        tmp_path,
        receiver,
        CALLS,
        OTEL_PYTHON_CONFIGURATOR=configurator,
        OTEL_TRACES_SAMPLER=sampler,
        OTEL_TRACES_SAMPLER_ARG=str(RATE),
    )
    assert done.stdout.startswith("TokenUsageSampler{ParentBased{root:TraceIdRatioBased{0.01}")
    return done, lines_of(tmp_path, "x")


def test_configurator_gives_sessions_and_every_line_at_one_percent(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    """OTEL_PYTHON_CONFIGURATOR=token_usage with parentbased_traceidratio at 0.01: every
    hand-written chat span inside session("x") is a line in sessions/x with the session's
    message count, the token metrics count every call, and OTLP gets only the sampled
    requests' traces."""
    _, lines = at_one_percent(tmp_path, receiver, "token_usage", "parentbased_traceidratio")
    assert len(lines) == CALLS
    assert {(x["session_id"], x["message_count"]) for x in lines} == {("x", 3)}
    assert sorted(tmp_path.joinpath("sessions").iterdir()) == [tmp_path / "sessions" / "x"]
    assert receiver.wait_for(lambda: bool(receiver.metrics))
    assert output_tokens(receiver) == sum(range(1, CALLS + 1))
    expected = {x["trace_id"] for x in lines if sampled(x["trace_id"])}
    got = [span.trace_id.hex() for span, _ in spans(receiver.traces)]
    assert set(got) == expected
    assert len(got) == 2 * len(expected)  # request and chat span of each sampled trace


@pytest.mark.parametrize("configurator", ["configurator", "token_usage"])
def test_short_run_loses_no_token_metrics(
    configurator: str, tmp_path: Path, receiver: HttpReceiver
) -> None:
    """A run whose spans leave only at exit still exports every call's token metrics,
    under opentelemetry-distro's configurator as under ours."""
    calls = 3
    done = instrument(tmp_path, receiver, calls, OTEL_PYTHON_CONFIGURATOR=configurator)
    assert len(lines_of(tmp_path, "x")) == calls
    assert "shutdown `MeterProvider`" not in done.stderr
    assert receiver.wait_for(lambda: bool(receiver.metrics))
    assert output_tokens(receiver) == 1 + 2 + 3
    # Priced too, with the price data loaded at start (with logfire installed, pydantic
    # loading it at exit would fail).
    (cost,) = [p.value for p in points(receiver.metrics) if p.metric == m.COST]
    assert cost > 0
    assert "cost metric not recorded" not in done.stderr


def test_another_configurator_gets_sessions_and_says_lines_follow_sampling(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    """Under opentelemetry-distro's configurator, our sampler is reachable from
    OTEL_TRACES_SAMPLER and session("x") still names the lines (the post-instrument
    hook adds SessionSpanProcessor), but the SDK's batch processor passes on only sampled
    spans: the lines follow the sample, and a warning names TokenUsageSpanProcessor."""
    done, lines = at_one_percent(
        tmp_path, receiver, "configurator", "token_usage_parentbased_traceidratio"
    )
    assert len(lines) < CALLS
    assert all(sampled(x["trace_id"]) for x in lines)
    assert {x["message_count"] for x in lines} <= {3}
    assert done.stderr.count("export through TokenUsageSpanProcessor") <= 1
    if lines:  # the check runs at the exporter's first batch
        assert "export through TokenUsageSpanProcessor" in done.stderr
