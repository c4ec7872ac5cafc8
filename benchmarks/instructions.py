"""Instructions per span, counted by valgrind's callgrind: a before/after comparison that
does not move with the machine's load, where wall-clock figures here swing by a third.

For each source tree given (`--src DIR`, a checkout's `src/`; default: the installed
package) it counts, in fresh interpreters:

- `export`: `TokenUsageSpanExporter.export()` of N finished LLM spans (batches of 512,
  10 sessions, each with a response id: spans that need no merging), less the same
  process without the exports;
- `session`: N LLM spans started and ended inside `session()` with a full budget, on a
  tracer provider with `SessionSpanProcessor`, less the same on one without it (the
  processor's added cost);

and prints each tree's instructions per span and, for a second tree, the change from the
first. Needs `valgrind` on PATH. Run, for example, comparing a commit with the work tree:

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/instructions.py --src /tmp/before/src --src src
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _export(count: int, exports: bool) -> None:
    sys.path.insert(0, str(HERE))
    from exporter import batches, make_spans
    from otel_token_usage import TokenUsageSpanExporter

    spans = make_spans(count + 512)
    exporter = TokenUsageSpanExporter(Path(tempfile.mkdtemp()) / "sessions")
    # Imports and first files, outside the difference; spans of other calls (response
    # ids) than the measured ones, so that none of those is taken for a duplicate.
    exporter.export(spans[count:])
    spans = spans[:count]
    if exports:
        for batch in batches(spans):
            exporter.export(batch)


def _session(count: int, with_processor: bool) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind

    sys.path.insert(0, str(HERE))
    from instrumentation import full_budget
    from otel_token_usage import SessionSpanProcessor, session

    provider = TracerProvider()
    if with_processor:
        provider.add_span_processor(SessionSpanProcessor())
    tracer = provider.get_tracer("bench")
    budget = full_budget()
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-opus-4-8",
    }
    with session("bench", budget=budget, message_count=42):
        for _ in range(count):
            tracer.start_span("chat claude-opus-4-8", kind=SpanKind.CLIENT, attributes=attrs).end()


def _count(src: str | None, *args: str) -> int:
    # A fixed hash seed: dict and set layouts, and so the counts, repeat from run to run.
    env = dict(os.environ, PYTHONHASHSEED="0")
    if src is not None:
        env["PYTHONPATH"] = src
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--inner",
            *args,
        ],
        env=env,
        capture_output=True,
        check=True,
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind: {done.stderr[-500:]!r}")
    return int(found.group(1))


def per_span(src: str | None, spans: int) -> dict[str, float]:
    """Instructions per span of each measured path, for the tree `src`."""
    export = _count(src, "export", str(spans), "1") - _count(src, "export", str(spans), "0")
    added = _count(src, "session", str(spans), "1") - _count(src, "session", str(spans), "0")
    return {"export": export / spans, "session": added / spans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", help="a source tree (repeat to compare)")
    parser.add_argument("--spans", type=int, default=5_000)
    parser.add_argument("--inner", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        what, count, flag = args.inner
        if what == "export":
            _export(int(count), flag == "1")
        else:
            _session(int(count), flag == "1")
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on PATH")
    trees = args.src or [None]
    results = [per_span(src, args.spans) for src in trees]
    print(f"instructions per span (callgrind, {args.spans} spans)")
    print(f"  {'tree':<40} {'export()':>12} {'SessionSpanProcessor':>22}")
    for src, result in zip(trees, results, strict=True):
        print(
            f"  {src or '(installed)':<40} {result['export']:>12,.0f} {result['session']:>22,.0f}"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        change = {key: (last[key] / first[key] - 1) * 100 for key in first}
        print(
            f"  change, last vs first: export() {change['export']:+.1f}%, "
            f"SessionSpanProcessor {change['session']:+.1f}%"
        )


if __name__ == "__main__":
    main()
