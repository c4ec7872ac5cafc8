"""The Anthropic instrumentor: each Messages call of a conversation one span, one line.

The set-up is the one to copy: a `TracerProvider` with `SessionSpanProcessor` and a
`BatchSpanProcessor(TokenUsageSpanExporter(...))`, then
`AnthropicInstrumentor().instrument(tracer_provider=...)`. A four-turn conversation runs
inside `session(...)`, which names the session and the conversation length of each call:

1. `messages.create`: the cached system prompt is written to the cache (first call);
2. `messages.create`: the same prefix is read from the cache;
3. `messages.stream(...)`: the SDK's stream helper;
4. `messages.create(stream=True)`: the raw event stream.

A stream's usage comes in `message_start` and `message_delta`, whose counts are
cumulative: they are replaced, never added. The example checks each line against the
usage the SDK handed back for the same call, streams included.

The client is built with `open_telemetry=False`, so our instrumentor makes the spans.
With the SDK's native tracing on, the instrumentor stands back; the SDK's own span gets
the session from `SessionSpanProcessor` and becomes the same line.

Run from the repository root: `python -m examples.anthropic_instrumentor
[--sessions-dir DIR]`. Offline against the local fake provider; with `ANTHROPIC_API_KEY`
set it makes four small, real (billed) calls. Writes
`DIR/anthropic-instrumentor/token-usage.jsonl`, replacing an earlier run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
from anthropic.types import MessageDeltaUsage, MessageParam, TextBlockParam, Usage

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
from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor

SESSION = "anthropic-instrumentor"
SYSTEM: list[TextBlockParam] = [
    {"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
]
QUESTIONS = (
    "List the files you would read first.",
    "Which test would you run after changing the parser?",
    "Summarise the plan in one sentence.",
    "Name one risk of the plan.",
)
NOTES = ("create", "create", "messages.stream()", "create(stream=True)")


def _turn(client: anthropic.Anthropic, turn: int, messages: list[MessageParam]) -> Counts:
    """Ask once, the way turn `turn` does; return the usage the SDK gave back."""
    request: dict[str, Any] = {
        "model": ANTHROPIC_MODEL,
        "max_tokens": 256,
        "system": SYSTEM,
        "messages": messages,
    }
    if turn <= 2:
        reply = client.messages.create(**request)
        text = "".join(block.text for block in reply.content if block.type == "text")
        usage: Usage | None = reply.usage
    elif turn == 3:
        with client.messages.stream(**request) as stream:
            text = "".join(stream.text_stream)
            usage = stream.get_final_message().usage
    else:
        text, usage = "", None
        for event in client.messages.create(**request, stream=True):
            if event.type == "message_start":
                usage = event.message.usage
            elif event.type == "message_delta" and usage is not None:
                usage = _replace_counts(usage, event.usage)
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
    messages.append({"role": "assistant", "content": text or "(no text)"})
    if usage is None:
        raise RuntimeError("the stream ended without a message_start event")
    return billed_counts(usage)


def _replace_counts(usage: Usage, delta: MessageDeltaUsage) -> Usage:
    """`message_delta` counts are running totals: they replace those of `message_start`."""
    counts = delta.model_dump(exclude_none=True)
    return usage.model_copy(update={k: v for k, v in counts.items() if k in Usage.model_fields})


def run(sessions_dir: Path) -> tuple[Path, list[Counts]]:
    """Hold the conversation; return the session log's path and what each call billed."""
    log = fresh_log(sessions_dir, SESSION)
    provider = token_usage_provider(sessions_dir, "examples-anthropic")
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    billed: list[Counts] = []
    try:
        with anthropic_client(open_telemetry=False) as client:
            messages: list[MessageParam] = []
            for turn, question in enumerate(QUESTIONS, start=1):
                messages.append({"role": "user", "content": question})
                with session(SESSION, message_count=len(messages)):
                    billed.append(_turn(client, turn, messages))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # the batch processor writes the last lines now
    return log, billed


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.anthropic_instrumentor`."""
    args = arguments("A conversation through the Anthropic SDK, logged.").parse_args(argv)
    log, billed = run(args.sessions_dir)
    logged = [logged_counts(record) for record in show_log(log, NOTES)]
    same = sum(1 for a, b in zip(logged, billed, strict=False) if a == b)
    print(f"{same} of {len(billed)} lines match the usage the SDK returned for their call")


if __name__ == "__main__":
    main()
