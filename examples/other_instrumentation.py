"""Spans from another instrumentation become session logs: OpenLLMetry's Anthropic one.

No instrumentation of ours is used here. OpenLLMetry's `opentelemetry-instrumentation-
anthropic` (`AnthropicInstrumentor` of `opentelemetry.instrumentation.anthropic`) makes
the spans; `SessionSpanProcessor` stamps `session(...)` onto them as they start, and
`TokenUsageSpanExporter` reads OpenLLMetry's attributes (inclusive
`gen_ai.usage.input_tokens`, its cache counts) into the same line as ours would be.
The same set-up works for the official OpenTelemetry GenAI instrumentations,
OpenInference, or the Anthropic SDK's own tracing.

Three calls: two `messages.create` (the cached system prompt written, then read) and a
`messages.stream(...)`. Each line is then put beside the usage the SDK returned to the
caller for its call. A line says what its producer put on the span: where OpenLLMetry
counts a stream's output differently from the API (it adds up the counts of
`message_start` and `message_delta`, which are running totals), the line says so too,
and the comparison shows it.

OpenLLMetry records prompts and completions on its spans by default; this example turns
that off with `TRACELOOP_TRACE_CONTENT=false` (its own switch) unless the variable is set.
The Anthropic client is built with `open_telemetry=False` so that only OpenLLMetry
traces it.

Run from the repository root: `python -m examples.other_instrumentation
[--sessions-dir DIR]` (needs `opentelemetry-instrumentation-anthropic`, in the
`examples` extra). Offline against the local fake provider; with `ANTHROPIC_API_KEY` set
it makes three small, real (billed) calls. Writes
`DIR/other-instrumentation/token-usage.jsonl`, replacing an earlier run's.
"""

from __future__ import annotations

import os
from pathlib import Path

from anthropic.types import MessageParam, TextBlockParam
from opentelemetry.instrumentation.anthropic import (
    AnthropicInstrumentor as OpenLLMetryAnthropicInstrumentor,
)

from examples._common import (
    ANTHROPIC_MODEL,
    SYSTEM_PROMPT,
    Counts,
    anthropic_client,
    arguments,
    billed_counts,
    fresh_log,
    logged_counts,
    show_log,
    token_usage_provider,
)
from otel_token_usage import session

SESSION = "other-instrumentation"
SYSTEM: list[TextBlockParam] = [
    {"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
]
NOTES = ("create", "create", "messages.stream()")
FIELDS = ("input", "cache read", "cache write", "output")


def run(sessions_dir: Path) -> tuple[Path, list[Counts]]:
    """Make the calls under OpenLLMetry; return the log's path and what each call billed."""
    os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")
    log = fresh_log(sessions_dir, SESSION)
    provider = token_usage_provider(sessions_dir, "examples-openllmetry")
    instrumentor = OpenLLMetryAnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    billed: list[Counts] = []
    try:
        with anthropic_client(open_telemetry=False) as client:
            messages: list[MessageParam] = [{"role": "user", "content": "Plan the change."}]
            for note in NOTES:
                with session(SESSION, message_count=len(messages)):
                    if note == "create":
                        usage = client.messages.create(
                            model=ANTHROPIC_MODEL, max_tokens=256, system=SYSTEM, messages=messages
                        ).usage
                    else:
                        with client.messages.stream(
                            model=ANTHROPIC_MODEL, max_tokens=256, system=SYSTEM, messages=messages
                        ) as stream:
                            usage = stream.get_final_message().usage
                billed.append(billed_counts(usage))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # the batch processor writes the last lines now
    return log, billed


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.other_instrumentation`."""
    args = arguments("OpenLLMetry's Anthropic spans, turned into a session log.").parse_args(argv)
    log, billed = run(args.sessions_dir)
    records = show_log(log, NOTES)
    for number, (record, call) in enumerate(zip(records, billed, strict=False), start=1):
        line = logged_counts(record)
        differences = [
            f"{name} {logged} (billed {paid})"
            for name, logged, paid in zip(FIELDS, line, call, strict=True)
            if logged != paid
        ]
        verdict = "as billed" if not differences else "differs: " + ", ".join(differences)
        print(f"line {number} ({NOTES[number - 1]}): {verdict}")


if __name__ == "__main__":
    main()
