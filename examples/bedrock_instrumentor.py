"""The Bedrock instrumentor: each `Converse` / `ConverseStream` call one span, one line.

`BedrockInstrumentor().instrument(tracer_provider=...)` adds handlers to every
`bedrock-runtime` client created afterwards (botocore's public event hooks). One session,
three calls to Claude on Bedrock through the `us.` inference profile:

1. `converse`: the system prompt ends with a 1-hour cache point and the first turn with
   a 5-minute one: both are written to the cache (`cacheWriteInputTokens`, split by
   `cacheDetails`; the line keeps the split in `cache_creation_5m/1h_input_tokens`);
2. `converse` of the next turn: the earlier prefix is read from the cache;
3. `converse_stream` with extended thinking: the usage comes in the stream's last
   (`metadata`) event. Bedrock bills the thinking inside `outputTokens` and reports no
   split, so the line's output has it and its `thinking_tokens` is 0.

Bedrock's `inputTokens` is the fresh input only; the span carries the conventions'
inclusive input (fresh + cache read + cache write), and the line the fresh part again.
The example checks each line against the fake's own simulation of the prompt cache.

Run from the repository root: `python -m examples.bedrock_instrumentor [--sessions-dir
DIR]`. Offline only, against the local fake provider, with explicit dummy credentials
(so botocore never looks for real ones). Writes
`DIR/bedrock-instrumentor/token-usage.jsonl`, replacing an earlier run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from examples._common import (
    SYSTEM_PROMPT,
    arguments,
    fake_cache_splits,
    fresh_log,
    print_cache_check,
    show_log,
    token_usage_provider,
)
from otel_token_usage import session
from otel_token_usage.instrumentation.bedrock import BedrockInstrumentor
from otel_token_usage.testing import FakeProvider

SESSION = "bedrock-instrumentor"
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
SYSTEM = [{"text": SYSTEM_PROMPT}, {"cachePoint": {"type": "default", "ttl": "1h"}}]
QUESTIONS = (
    "List the files you would read first.",
    "Which test would you run after changing the parser?",
    "Summarise the plan in one sentence.",
)
NOTES = ("converse (cache write 5m + 1h)", "converse (cache read)", "converse_stream + thinking")


def _ask(client: Any, messages: list[dict[str, Any]], turn: int) -> str:
    request: dict[str, Any] = {
        "modelId": MODEL,
        "system": SYSTEM,
        "messages": messages,
        "inferenceConfig": {"maxTokens": 512},
    }
    if turn < 3:
        answer = client.converse(**request)["output"]["message"]["content"]
        return "".join(block.get("text", "") for block in answer)
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 256}}
    events = client.converse_stream(**request, additionalModelRequestFields=thinking)["stream"]
    return "".join(
        event["contentBlockDelta"]["delta"].get("text", "")
        for event in events
        if "contentBlockDelta" in event
    )


def run(sessions_dir: Path) -> tuple[Path, list[tuple[int, int, int]]]:
    """Hold the conversation; return the log's path and the fake's cache split of each call."""
    log = fresh_log(sessions_dir, SESSION)
    provider = token_usage_provider(sessions_dir, "examples-bedrock")
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeProvider() as fake:
            print(f"API: the local fake provider at {fake.base_url}\n")
            client = boto3.client(
                "bedrock-runtime",
                endpoint_url=fake.base_url,
                region_name="us-east-1",
                aws_access_key_id="fake",
                aws_secret_access_key="fake",
                config=Config(retries={"total_max_attempts": 1}),
            )
            messages: list[dict[str, Any]] = []
            for turn, question in enumerate(QUESTIONS, start=1):
                point = {"cachePoint": {"type": "default"}}  # 5 minutes
                messages.append({"role": "user", "content": [{"text": question}, point]})
                with session(SESSION, message_count=len(messages)):
                    text = _ask(client, messages, turn)
                messages[-1]["content"].pop()  # at most 4 cache points per request
                messages.append({"role": "assistant", "content": [{"text": text}]})
            splits = fake_cache_splits(fake)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # the batch processor writes the last lines now
    return log, splits


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.bedrock_instrumentor`."""
    args = arguments("Bedrock Converse calls through boto3, logged.").parse_args(argv)
    log, splits = run(args.sessions_dir)
    lines = show_log(log, NOTES)
    for number, line in enumerate(lines, start=1):
        split = (
            line.get("cache_creation_5m_input_tokens"),
            line.get("cache_creation_1h_input_tokens"),
        )
        print(f"line {number}: cache writes 5m/1h = {split[0]}/{split[1]}")
    print_cache_check(lines, splits, "call")


if __name__ == "__main__":
    main()
