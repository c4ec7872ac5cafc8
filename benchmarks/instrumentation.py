"""Instrumentation overhead: ours vs Anthropic's native tracing vs OpenLLMetry, per call;
and `SessionSpanProcessor`'s added cost per span.

Part 1, per call. A sync `anthropic` client whose `httpx2.MockTransport` answers every
request in-process with the same canned Messages response (no network, no server) makes
`--calls` `client.messages.create(...)` calls, in each of these variants:

- `uninstrumented`: client with `open_telemetry=False`, no instrumentor;
- `ours`: our `AnthropicInstrumentor` (client with `open_telemetry=False`);
- `native`: the SDK's own tracing (client with `open_telemetry={"tracer_provider": ...}`);
- `openllmetry`: OpenLLMetry's `opentelemetry-instrumentation-anthropic` with its defaults
  (which record prompt and completion content; client with `open_telemetry=False`);
- `openllmetry-no-content`: the same with `TRACELOOP_TRACE_CONTENT=false`, which like
  ours records no content.

Every traced variant has the same real `TracerProvider` with a `BatchSpanProcessor` into
an exporter that only counts the spans it is given (by instrumentation scope), so the
comparison is the instrumentation's own cost; the counts are checked afterwards (each
traced variant must have made exactly one span per call, from the expected producer).
Each variant runs in a fresh subprocess (instrumentors patch the same SDK methods, and
nothing of one may stay behind for the next), which warms up and then keeps the best of
`--inner` timed loops; the subprocesses of all variants are interleaved, `--repeat`
rounds, and the best round counts.

Part 2, per span. Spans that start as LLM calls (`gen_ai.operation.name` = chat) are
started and ended on two tracer providers, with and without `SessionSpanProcessor`
(besides the same batch processor), both inside a `session(...)` with a full budget and
a message count (so every span gets its 12 stamps) and outside any session. The added
cost is the difference, best of `--repeat` interleaved runs of `--spans` spans each.

Run: `make bench` or `.venv/bin/python benchmarks/instrumentation.py [--calls N]
[--repeat R] [--inner K] [--spans S]`. Target: our added cost per call at most half of
OpenLLMetry's. `SessionSpanProcessor`'s cost is reported, with no target: it stamps
through the public `span.set_attributes` (issue 11), whose validation of 12 attributes
is most of it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

VARIANTS = ("uninstrumented", "ours", "native", "openllmetry", "openllmetry-no-content")
EXPECTED_SCOPE = {
    "uninstrumented": None,
    "ours": "otel_token_usage.instrumentation.anthropic",
    "native": "com.anthropic.sdk.python",
    "openllmetry": "opentelemetry.instrumentation.anthropic",
    "openllmetry-no-content": "opentelemetry.instrumentation.anthropic",
}
WARMUP_CALLS = 300
MODEL = "claude-opus-4-6"
RESPONSE: dict[str, Any] = {
    "id": "msg_01BenchCannedResponse0000",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "The report shows steady growth in all regions."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 24,
        "cache_creation_input_tokens": 1_536,
        "cache_read_input_tokens": 18_432,
        "cache_creation": {"ephemeral_5m_input_tokens": 1_536, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 212,
        "service_tier": "standard",
    },
}
SYSTEM = [
    {
        "type": "text",
        "text": "You are a careful assistant that answers briefly. " * 8,
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
]
MESSAGES = [
    {"role": "user", "content": "Please summarise the quarterly report for the board."},
    {"role": "assistant", "content": "Revenue grew 12% and costs were flat."},
    {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "And what about the risks that the auditors listed?",
                "cache_control": {"type": "ephemeral"},
            }
        ],
    },
]


# --- pieces shared by both parts -------------------------------------------------------


def counting_provider(queue: int, first: Sequence[Any] = ()) -> tuple[Any, Counter[str]]:
    """A real TracerProvider with the span processors `first`, then a BatchSpanProcessor
    (room for `queue` spans) into an exporter that only counts spans per scope."""
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    counts: Counter[str] = Counter()

    class CountingExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            for span in spans:
                scope = span.instrumentation_scope
                counts[scope.name if scope is not None else ""] += 1
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    for processor in first:
        provider.add_span_processor(processor)
    # The queue is sized so that no span is dropped between two `force_flush()` calls:
    # a CPU-bound caller can keep the batch worker thread from the GIL for hundreds of
    # milliseconds (measured), and a dropped span would be work one variant skipped.
    provider.add_span_processor(
        BatchSpanProcessor(CountingExporter(), max_queue_size=max(queue, 2048))
    )
    return provider, counts


def best_loop(inner: int, loop: Callable[[], float], provider: Any) -> float:
    """The fastest of `inner` runs of `loop` (each returns its own elapsed seconds); the
    spans of each run are flushed to the exporter after it, outside the timing."""
    best = float("inf")
    for _ in range(inner):
        gc.collect()
        best = min(best, loop())
        provider.force_flush()
    return best


# --- part 1: one variant, in its own subprocess ---------------------------------------


def run_variant(variant: str, calls: int, inner: int) -> dict[str, Any]:
    """Time `calls` sync `messages.create` calls in this process, instrumented as
    `variant` says; the best of `inner` loops, in seconds per call."""
    if variant == "openllmetry-no-content":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
    import anthropic
    import httpx2

    body = json.dumps(RESPONSE).encode()
    headers = {"content-type": "application/json", "request-id": "req_bench"}

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=body)

    provider, counts = counting_provider(queue=calls + WARMUP_CALLS + 1)
    open_telemetry: Any = False
    if variant == "ours":
        from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif variant == "native":
        open_telemetry = {"tracer_provider": provider}
    elif variant.startswith("openllmetry"):
        from opentelemetry.instrumentation.anthropic import (
            AnthropicInstrumentor as OpenLLMetryInstrumentor,
        )

        OpenLLMetryInstrumentor().instrument(tracer_provider=provider)
    elif variant != "uninstrumented":
        raise SystemExit(f"unknown variant {variant!r}")

    client = anthropic.Anthropic(
        api_key="bench-key",
        base_url="http://anthropic.bench.invalid",
        max_retries=0,
        open_telemetry=open_telemetry,
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
    )
    create: Callable[..., Any] = client.messages.create

    def loop(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            create(model=MODEL, max_tokens=1024, system=SYSTEM, messages=MESSAGES)
        return time.perf_counter() - start

    message = create(model=MODEL, max_tokens=1024, system=SYSTEM, messages=MESSAGES)
    if message.usage.output_tokens != RESPONSE["usage"]["output_tokens"]:
        raise SystemExit("the canned response did not come back")
    loop(WARMUP_CALLS)
    seconds = best_loop(inner, lambda: loop(calls), provider)
    provider.shutdown()  # exports what is queued, so the counts are complete
    return {
        "variant": variant,
        "per_call": seconds / calls,
        "spans": dict(counts),
        "calls": 1 + WARMUP_CALLS + inner * calls,
    }


def check_spans(result: dict[str, Any]) -> str | None:
    """What is wrong with the spans a variant made, or None: a traced variant makes
    exactly one span per call, all from its own producer; uninstrumented makes none."""
    scope = EXPECTED_SCOPE[result["variant"]]
    spans: dict[str, int] = result["spans"]
    expected = {} if scope is None else {scope: result["calls"]}
    if spans != expected:
        return f"{result['variant']}: expected spans {expected}, got {spans}"
    return None


def spawn_variant(variant: str, calls: int, inner: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_"))}
    env.pop("TRACELOOP_TRACE_CONTENT", None)
    command = [sys.executable, __file__, "--variant", variant]
    out = subprocess.run(
        [*command, "--calls", str(calls), "--inner", str(inner)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def per_call(calls: int, repeat: int, inner: int) -> bool:
    best: dict[str, float] = {}
    problems: list[str] = []
    for _ in range(repeat):
        for variant in VARIANTS:
            result = spawn_variant(variant, calls, inner)
            if (problem := check_spans(result)) is not None and problem not in problems:
                problems.append(problem)
            best[variant] = min(best.get(variant, float("inf")), result["per_call"])
    base = best["uninstrumented"]
    print(
        f"Per call: sync messages.create on a mock transport, {calls} calls,"
        f" best of {inner} loops x {repeat} rounds (one subprocess per variant and round)"
    )
    print(f"  {'variant':<24} {'per call':>10} {'added':>10}")
    for variant in VARIANTS:
        us, added = best[variant] * 1e6, (best[variant] - base) * 1e6
        shown = "" if variant == "uninstrumented" else f"{added:>+8.1f} us"
        print(f"  {variant:<24} {us:>7.1f} us {shown:>10}")
    ours = best["ours"] - base
    for other in ("openllmetry", "openllmetry-no-content"):
        theirs = best[other] - base
        ratio = ours / theirs if theirs > 0 else float("inf")
        print(f"  ours / {other} added cost: {ratio:.2f} (target <= 0.5)")
    native = best["native"] - base
    if native > 0:
        print(f"  ours / native added cost: {ours / native:.2f}")
    for problem in problems:
        print(f"  SPAN CHECK FAILED: {problem}")
    return not problems


# --- part 2: SessionSpanProcessor ------------------------------------------------------


def full_budget() -> Any:
    """A `TokenBudgetUsage` with every field set: each span of its session gets every
    stamp (also used by `instructions.py`)."""
    from otel_token_usage import TokenBudgetUsage

    return TokenBudgetUsage(
        system_tokens=1_200,
        summary_tokens=300,
        window_tokens=9_000,
        total_tokens=10_500,
        max_context_tokens=200_000,
        budget_limit=150_000,
        truncation_occurred=False,
        segments_removed=2,
        prompt_cached_tool_outputs=3,
        prompt_cached_tool_tokens_saved=4_000,
        thinking_tokens=0,
        cache_read_input_tokens=18_000,
    )


def per_span(spans: int, repeat: int) -> bool:
    from opentelemetry.trace import SpanKind

    from otel_token_usage import SessionSpanProcessor, session

    budget = full_budget()
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
    }
    chunk = 2_000
    base, base_counts = counting_provider(queue=chunk)
    stamped, stamped_counts = counting_provider(queue=chunk, first=[SessionSpanProcessor()])
    providers = {"without": base, "with": stamped}
    name = f"chat {MODEL}"

    def loop(which: str, in_session: bool) -> float:
        """Seconds to start and end `spans` spans, timed in chunks with the batch
        processor flushed between them (outside the timing), so none is dropped."""
        provider = providers[which]
        tracer = provider.get_tracer("bench")
        scope = session("bench-session", budget=budget, message_count=42)
        elapsed = 0.0
        gc.collect()
        for first in range(0, spans, chunk):
            count = min(chunk, spans - first)
            start = time.perf_counter()
            if in_session:
                with scope:
                    for _ in range(count):
                        tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs).end()
            else:
                for _ in range(count):
                    tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs).end()
            elapsed += time.perf_counter() - start
            provider.force_flush()
        return elapsed

    cases = [(which, inside) for inside in (True, False) for which in ("without", "with")]
    best = dict.fromkeys(cases, float("inf"))
    for case in cases:
        loop(*case)  # warm-up
    for _ in range(repeat):
        for case in cases:
            best[case] = min(best[case], loop(*case))
    base.shutdown()
    stamped.shutdown()

    print(f"SessionSpanProcessor: {spans} LLM spans started and ended, best of {repeat}")
    for inside, label in ((True, "in a session, full budget"), (False, "outside any session")):
        without = best[("without", inside)] / spans * 1e6
        added = best[("with", inside)] / spans * 1e6 - without
        print(f"  {label:<26} {without:>6.2f} us/span without, added {added:+.2f} us/span")
    made = 2 * (repeat + 1) * spans
    for counts in (base_counts, stamped_counts):
        if counts != {"bench": made}:
            print(f"  SPAN CHECK FAILED: expected {made} spans, got {dict(counts)}")
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000, help="timed calls per loop")
    parser.add_argument("--inner", type=int, default=3, help="timed loops per subprocess")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (subprocesses each)")
    parser.add_argument("--spans", type=int, default=100_000, help="spans per loop (part 2)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant is not None:
        print(json.dumps(run_variant(args.variant, args.calls, args.inner)))
        return
    ok = per_call(args.calls, args.repeat, args.inner)
    print()
    ok = per_span(args.spans, args.repeat) and ok
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
