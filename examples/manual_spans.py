"""Manual spans: a scripted agent session through the real OpenTelemetry SDK pipeline.

Ten LLM calls of one session are created as plain OTel spans carrying the GenAI
attributes (as any instrumentation would write them), on a simulated timeline: warm
rounds reading the prompt cache, a 20-minute pause that outlives the 5-minute cache
TTL, and a context compression. A `BatchSpanProcessor` feeds `TokenUsageSpanExporter`,
which writes `./sessions/demo/token-usage.jsonl`; the lines are then shown.

Run: `python examples/manual_spans.py [--sessions-dir DIR]`. Offline; no collector.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage.export import SessionLogWriter, TokenUsageSpanExporter

SESSION = "manual-spans"
MODEL = "claude-opus-4-8"
SECOND = 1_000_000_000


@dataclass(frozen=True)
class Round:
    """One scripted call: what the server billed and what the agent's budget said."""

    gap_s: int
    fresh: int
    cache_read: int
    cache_write: int
    output: int
    thinking: int = 0
    summary_tokens: int = 0
    segments_removed: int = 0
    note: str = ""


ROUNDS = [
    Round(0, 2_400, 0, 9_800, 350, 120, note="first call: the prefix is written"),
    Round(40, 600, 9_800, 900, 280, 90, note="warm"),
    Round(35, 550, 10_700, 820, 410, 150, note="warm"),
    Round(50, 700, 11_520, 760, 300, 60, note="warm"),
    Round(20 * 60, 800, 0, 12_980, 260, 40, note="20 min pause > 5 min TTL: cold"),
    Round(30, 620, 12_980, 700, 330, 110, note="warm again"),
    Round(45, 3_100, 1_900, 4_200, 500, 200, 1_800, 14, "compression: summary replaces 14 msgs"),
    Round(25, 650, 9_200, 640, 290, 70, 1_800, note="warm after compression"),
    Round(40, 610, 9_840, 700, 270, 30, 1_800, note="warm"),
    Round(30, 640, 10_540, 660, 420, 160, 1_800, note="warm"),
]


def run(sessions_dir: Path) -> Path:
    """Export the scripted session into `sessions_dir`; return the log's path."""
    log = SessionLogWriter(sessions_dir).path_of(SESSION)
    log.unlink(missing_ok=True)  # show this run's lines only

    exporter = TokenUsageSpanExporter(sessions_dir)
    provider = TracerProvider(resource=Resource.create({"service.name": "manual-spans"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("examples.manual_spans")

    now = time.time_ns() - sum(r.gap_s for r in ROUNDS) * SECOND - 60 * SECOND
    messages = 2
    for number, r in enumerate(ROUNDS, start=1):
        now += r.gap_s * SECOND
        messages = messages + 2 if not r.segments_removed else messages - r.segments_removed
        attrs: dict[str, AttributeValue] = {
            a.GEN_AI_OPERATION_NAME: "chat",
            a.GEN_AI_PROVIDER_NAME: "anthropic",
            a.GEN_AI_REQUEST_MODEL: MODEL,
            a.GEN_AI_RESPONSE_MODEL: MODEL,
            a.GEN_AI_RESPONSE_ID: f"msg_demo_{number:02d}",
            a.GEN_AI_CONVERSATION_ID: SESSION,
            a.GEN_AI_USAGE_INPUT_TOKENS: r.fresh + r.cache_read + r.cache_write,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: r.cache_read,
            a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: r.cache_write,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: r.output,
            a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: r.thinking,
            a.TOKEN_USAGE_MESSAGE_COUNT: messages,
            a.BUDGET_ATTRIBUTES["system_tokens"]: 3_200,
            a.BUDGET_ATTRIBUTES["summary_tokens"]: r.summary_tokens,
            a.BUDGET_ATTRIBUTES["window_tokens"]: r.fresh + r.cache_read + r.cache_write - 3_200,
            a.BUDGET_ATTRIBUTES["total_tokens"]: r.fresh + r.cache_read + r.cache_write,
            a.BUDGET_ATTRIBUTES["max_context_tokens"]: 200_000,
            a.BUDGET_ATTRIBUTES["budget_limit"]: 180_000,
            a.BUDGET_ATTRIBUTES["truncation_occurred"]: r.segments_removed > 0,
            a.BUDGET_ATTRIBUTES["segments_removed"]: r.segments_removed,
        }
        span = tracer.start_span(f"chat {MODEL}", kind=SpanKind.CLIENT, start_time=now)
        span.set_attributes(attrs)
        span.end(end_time=now + (2 + r.output // 100) * SECOND)

    provider.shutdown()  # flushes the batch processor, then closes the exporter
    return log


def show(log: Path) -> None:
    """Print the log's lines, then a one-row-per-call reading of them."""
    lines = log.read_text(encoding="utf-8").splitlines()
    print(f"{len(lines)} lines in {log}:\n")
    for line in lines:
        print(line)
    print(f"\n{'#':>2}  {'ts':<24} {'prompt':>7} {'read':>7} {'write':>7}  hit   note")
    for number, (line, r) in enumerate(zip(lines, ROUNDS, strict=True), start=1):
        rec = json.loads(line)
        prompt = (
            rec["input_tokens"]
            + rec["cache_read_input_tokens"]
            + rec["cache_creation_input_tokens"]
        )
        hit = rec["cache_read_input_tokens"] / prompt if prompt else 0.0
        print(
            f"{number:>2}  {rec['ts']:<24} {prompt:>7} {rec['cache_read_input_tokens']:>7} "
            f"{rec['cache_creation_input_tokens']:>7}  {hit:4.0%}  {r.note}"
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python examples/manual_spans.py`."""
    parser = argparse.ArgumentParser(description="Write and show a demo session log.")
    parser.add_argument("--sessions-dir", type=Path, default=Path("sessions"))
    args = parser.parse_args(argv)
    show(run(args.sessions_dir))


if __name__ == "__main__":
    main()
