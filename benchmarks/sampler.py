"""`TokenUsageSampler`'s added cost per span, against the sampler it wraps alone.

The inner sampler is the SDK's `ParentBasedTraceIdRatio(0.01)` (production-style 1 %
sampling). Each case calls `should_sample` the way the SDK's tracer does (positional
arguments, the span's start attributes) on the inner sampler alone and on
`TokenUsageSampler(inner)`, `--spans` times, interleaved, `--repeat` rounds; the best
round of each counts, and the difference is the wrapper's cost:

- `root-http`: a root HTTP server span with 6 attributes (dropped: the wrapper looks at
  its attributes and keeps the DROP, the common case);
- `child-of-unsampled`: a child of an unsampled local parent (dropped by ParentBased);
- `llm-root`: a root chat span (dropped by the inner sampler, made RECORD_ONLY by ours:
  the most the wrapper ever does);
- `llm-child-of-sampled`: a chat span under a sampled parent (sampled: the wrapper only
  passes the result on).

Then, for context, whole spans: `start_span` + `end` of the `root-http` span on two
tracer providers that differ only in the sampler.

Times are the thread's CPU time (`time.thread_time`), so other work on a shared machine
does not count against either side.

Run: `.venv/bin/python benchmarks/sampler.py [--spans N] [--repeat R]`. Target: under
1 us added per span in every case.
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio, Sampler
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenUsageSampler

TARGET_US = 1.0
RATE = 0.01
UNSAMPLED_ID = (0x5EED << 64) | ((1 << 64) - 1)  # low 64 bits above every bound: dropped
HTTP: dict[str, AttributeValue] = {
    "http.request.method": "POST",
    "url.path": "/ask",
    "url.scheme": "https",
    "server.address": "agent.internal",
    "server.port": 443,
    "user_agent.original": "bench/1.0",
}
CHAT: dict[str, AttributeValue] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-opus-4-6",
    "server.address": "api.anthropic.com",
}


def parent(sampled: bool) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(UNSAMPLED_ID, 42, is_remote=False, trace_flags=flags))
    return set_span_in_context(span)


CASES: dict[str, tuple[Context | None, SpanKind, dict[str, AttributeValue]]] = {
    "root-http": (None, SpanKind.SERVER, HTTP),
    "child-of-unsampled": (parent(False), SpanKind.CLIENT, HTTP),
    "llm-root": (None, SpanKind.CLIENT, CHAT),
    "llm-child-of-sampled": (parent(True), SpanKind.CLIENT, CHAT),
}


def time_should_sample(sampler: Sampler, case: str, spans: int) -> float:
    """Seconds per `should_sample` call for `case`."""
    context, kind, attributes = CASES[case]
    should_sample = sampler.should_sample
    rounds = range(spans)
    gc.disable()
    try:
        start = time.thread_time()
        for _ in rounds:
            should_sample(context, UNSAMPLED_ID, "span", kind, attributes, None)
        return (time.thread_time() - start) / spans
    finally:
        gc.enable()


def time_spans(provider: TracerProvider, spans: int) -> float:
    """Seconds per `start_span` + `end` of the root HTTP span."""
    tracer = provider.get_tracer("bench")
    rounds = range(spans)
    gc.disable()
    try:
        start = time.thread_time()
        for _ in rounds:
            tracer.start_span("POST /ask", kind=SpanKind.SERVER, attributes=HTTP).end()
        return (time.thread_time() - start) / spans
    finally:
        gc.enable()


def best(repeat: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """The best of `repeat` interleaved rounds of each run."""
    found = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            found[name] = min(found[name], run())
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short rounds: on a shared machine the best of many is the steadiest figure.
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    inner = ParentBasedTraceIdRatio(RATE)
    ours = TokenUsageSampler(inner)
    print(f"should_sample, us per span (best of {args.repeat} rounds of {args.spans:,}):")
    print(f"{'case':<22} {'inner alone':>12} {'wrapped':>9} {'added':>7}")
    worst = 0.0
    for case in CASES:
        time_should_sample(ours, case, 10_000)  # warm up
        got = best(
            args.repeat,
            {
                "inner": functools.partial(time_should_sample, inner, case, args.spans),
                "ours": functools.partial(time_should_sample, ours, case, args.spans),
            },
        )
        added = (got["ours"] - got["inner"]) * 1e6
        worst = max(worst, added)
        print(f"{case:<22} {got['inner'] * 1e6:>12.3f} {got['ours'] * 1e6:>9.3f} {added:>+7.3f}")

    spans = max(1, args.spans // 4)
    plain = TracerProvider(sampler=inner, shutdown_on_exit=False)
    wrapped = TracerProvider(sampler=ours, shutdown_on_exit=False)
    whole = best(
        args.repeat,
        {"inner": lambda: time_spans(plain, spans), "ours": lambda: time_spans(wrapped, spans)},
    )
    print(
        f"whole root HTTP span (start + end): {whole['inner'] * 1e6:.3f} us with the inner "
        f"sampler, {whole['ours'] * 1e6:.3f} us wrapped "
        f"({(whole['ours'] - whole['inner']) * 1e6:+.3f} us)"
    )
    verdict = "meets" if worst < TARGET_US else "MISSES"
    print(f"largest added cost {worst:.3f} us per span: {verdict} the target of < {TARGET_US} us")
    return 0 if worst < TARGET_US else 1


if __name__ == "__main__":
    raise SystemExit(main())
