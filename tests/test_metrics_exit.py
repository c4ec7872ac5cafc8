"""Token metrics of the spans still queued at exit are not lost to the SDK's exit order."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_token_usage import semconv as metrics

pytestmark = pytest.mark.slow  # subprocesses and real servers: `make test` runs them

APP = textwrap.dedent(
    """
    import sys
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter, PeriodicExportingMetricReader)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_token_usage import TokenUsageSpanExporter, TokenUsageSpanProcessor

    sessions, out, processor, flush_first = sys.argv[1], open(sys.argv[2], "w"), *sys.argv[3:]
    processor = TokenUsageSpanProcessor if processor == "ours" else BatchSpanProcessor
    # The order opentelemetry-instrument uses: tracing first, then metrics, each
    # registering its own shutdown at exit.
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor(TokenUsageSpanExporter(sessions)))
    trace.set_tracer_provider(tracer_provider)
    exporter = ConsoleMetricExporter(
        out=out, formatter=lambda data: data.to_json(indent=None) + "\\n")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    tracer = trace.get_tracer("app")
    for output, flush in ((7, flush_first == "flush"), (11, False)):
        with tracer.start_as_current_span("chat m") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "p",
                "gen_ai.request.model": "m", "gen_ai.conversation.id": "s",
                "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": output,
            })
        if flush:
            tracer_provider.force_flush()
    # exit with the second span still queued in the batch processor
    """
)


def run_app(tmp_path: Path, processor: str, flush_first: str) -> tuple[list[int], str]:
    """The app's lines' output tokens and the last exported output-token totals, and its
    stderr."""
    out = tmp_path / "metrics.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", APP, str(tmp_path / "sessions"), str(out), processor, flush_first],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = (tmp_path / "sessions" / "s" / "token-usage.jsonl").read_text().splitlines()
    assert [json.loads(line)["output_tokens"] for line in lines] == [7, 11]
    totals = []
    for line in out.read_text().splitlines():
        for resource in json.loads(line)["resource_metrics"]:
            for scope in resource["scope_metrics"]:
                for metric in scope["metrics"]:
                    if metric["name"] == metrics.OUTPUT_TOKENS:
                        totals += [p["value"] for p in metric["data"]["data_points"]]
    return totals, done.stderr


def test_spans_queued_at_exit_still_count_in_the_metrics(tmp_path: Path) -> None:
    """The second call, exported only by the exit-time flush, is in the final metrics."""
    totals, _stderr = run_app(tmp_path, "plain", "flush")
    assert totals[-1] == 7 + 11


def test_a_run_whose_every_span_leaves_at_exit_loses_no_metrics(tmp_path: Path) -> None:
    """A hand-built app with TokenUsageSpanProcessor whose first batch leaves only at
    exit, after the meter provider was built: every call is in the exported metrics,
    and the SDK never says its meter provider was already shut down."""
    totals, stderr = run_app(tmp_path, "ours", "no-flush")
    assert totals[-1] == 7 + 11
    assert "shutdown `MeterProvider`" not in stderr
