"""Exporter throughput: ours vs the OpenTelemetry JSON file exporter vs raw orjson.

The same 50,000 finished LLM-call spans (10 sessions), in batches of 512, go through:

- `TokenUsageSpanExporter` (extract, encode, one append per session per batch);
- `opentelemetry-exporter-otlp-json-file`'s `FileSpanExporter` (the OpenTelemetry
  project's own file exporter, OTLP JSON);
- a floor: `orjson.dumps` of ready-made record dicts, one write per batch to one file.

Run: `make bench` or `.venv/bin/python benchmarks/exporter.py [--spans N] [--repeat R]`.
Each figure is the best of R runs of the `export()` calls (set-up and `shutdown()` are
outside the timing for all three; our one-off shutdown, which fsyncs each log, is
printed apart); the ratios are computed within this one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenUsageSpanExporter, extract_record

BATCH = 512


def chat_attributes(index: int, session: str, message_count: int) -> dict[str, AttributeValue]:
    """The attributes of the `index`-th chat call (its own response id) in `session`:
    current convention names, the ones our fast reader takes in one C call."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-opus-4-8",
        "gen_ai.response.model": "claude-opus-4-8",
        "gen_ai.response.id": f"msg_{index:08d}",
        "gen_ai.conversation.id": session,
        "gen_ai.usage.input_tokens": 20_000 + index % 997,
        "gen_ai.usage.cache_read.input_tokens": 18_000,
        "gen_ai.usage.cache_write.input_tokens": 1_200,
        "gen_ai.usage.output_tokens": 400 + index % 89,
        "gen_ai.usage.reasoning.output_tokens": 120,
        "token_usage.message_count": message_count,
        "server.address": "api.anthropic.com",
    }


def finished_spans(
    calls: Iterable[dict[str, AttributeValue]],
    resource: Resource | None = None,
    scope: str = "bench",
) -> list[ReadableSpan]:
    """Real SDK spans, one finished chat span per attribute set of `calls`."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource) if resource else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(scope)
    for attributes in calls:
        with tracer.start_as_current_span(
            "chat claude-opus-4-8", kind=SpanKind.CLIENT, attributes=attributes
        ):
            pass
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def make_spans(count: int) -> list[ReadableSpan]:
    """`count` calls in 10 sessions, also carrying the older cache-creation name."""
    return finished_spans(
        {
            **chat_attributes(index, f"session-{index % 10}", index % 40),
            "gen_ai.usage.cache_creation.input_tokens": 1_200,
        }
        for index in range(count)
    )


def batches(spans: Sequence[ReadableSpan]) -> list[Sequence[ReadableSpan]]:
    return [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]


def run_ours(spans: Sequence[ReadableSpan], root: Path) -> float:
    exporter = TokenUsageSpanExporter(root / "ours")
    start = time.perf_counter()
    for batch in batches(spans):
        exporter.export(batch)
    elapsed = time.perf_counter() - start
    exporter.shutdown()  # fsyncs every log: a one-off, reported apart
    return elapsed


def run_json_file(spans: Sequence[ReadableSpan], root: Path) -> float:
    exporter = FileSpanExporter(root / "otlp.jsonl")
    start = time.perf_counter()
    for batch in batches(spans):
        exporter.export(batch)
    elapsed = time.perf_counter() - start
    exporter.shutdown()
    return elapsed


def run_orjson_floor(dicts: Sequence[dict[str, Any]], root: Path) -> float:
    fd = os.open(root / "floor.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    start = time.perf_counter()
    for first in range(0, len(dicts), BATCH):
        os.write(
            fd,
            b"".join(
                orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE)
                for d in dicts[first : first + BATCH]
            ),
        )
    elapsed = time.perf_counter() - start
    os.close(fd)
    return elapsed


def shutdown_cost(spans: Sequence[ReadableSpan], root: Path) -> float:
    exporter = TokenUsageSpanExporter(root / "ours")
    for batch in batches(spans):
        exporter.export(batch)
    start = time.perf_counter()
    exporter.shutdown()
    return time.perf_counter() - start


def best_of(repeat: int, run: Callable[[Path], float]) -> float:
    """The fastest of `repeat` runs, each in a fresh directory (export calls only)."""
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            best = min(best, run(Path(tmp)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    spans = make_spans(args.spans)
    dicts = [r.model_dump() for s in spans if (r := extract_record(s))]
    results = {
        "token_usage (ours)": best_of(args.repeat, lambda root: run_ours(spans, root)),
        "otlp-json-file": best_of(args.repeat, lambda root: run_json_file(spans, root)),
        "orjson floor": best_of(args.repeat, lambda root: run_orjson_floor(dicts, root)),
    }
    print(f"{args.spans} spans, batches of {BATCH}, best of {args.repeat}")
    for name, seconds in results.items():
        print(f"  {name:<20} {args.spans / seconds:>12,.0f} spans/s  ({seconds:.3f} s)")
    ours = results["token_usage (ours)"]
    once = best_of(args.repeat, lambda root: shutdown_cost(spans, root))
    print(f"  (our one-off shutdown(), which fsyncs each log: {once * 1000:.1f} ms)")
    print(
        f"  ours vs otlp-json-file: {results['otlp-json-file'] / ours:.1f}x faster (target >= 10x)"
    )
    print(f"  ours vs orjson floor:   {ours / results['orjson floor']:.2f}x slower (target <= 3x)")


if __name__ == "__main__":
    main()
