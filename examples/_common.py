"""What the examples share: their command line, their tracing set-up, and API clients
that talk to the local fake provider unless a real API key is set.

- `anthropic_client()`: with `ANTHROPIC_API_KEY` set, a client of the real Anthropic API
  (real, billed calls to `ANTHROPIC_MODEL`, from `EXAMPLES_ANTHROPIC_MODEL`, default
  `claude-sonnet-5-5`); without it, a client of `otel_token_usage.testing.FakeProvider`,
  a server on 127.0.0.1 started for the example, which bills prompt caching as the API
  does. `openai_client()` likewise with `OPENAI_API_KEY` and `EXAMPLES_OPENAI_MODEL`
  (default `gpt-6-luna`). The fake is the default: no key, no network, no cost.
- `token_usage_provider()`: the set-up every instrumented example uses, a
  `TracerProvider` with `SessionSpanProcessor` and then a `BatchSpanProcessor` around
  `TokenUsageSpanExporter`.
- `session_logs()`: the logs the analysis examples read (written by the demo if none);
  `COLUMNS`: every field of a line with its SQL type; `model_rates()`: the model prices
  they use.
- `show_log()`: the session log's lines, and a table of what each line says;
  `billed_counts()` / `logged_counts()` put a call's usage and its line side by side;
  `fake_cache_splits()` / `logged_cache_split()` / `print_cache_check()` the fake's
  simulated cache split of each call and its line's; `line_cost()` a line's price.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import openai
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_token_usage import SessionSpanProcessor, TokenUsageSpanExporter
from otel_token_usage.export import SessionLogWriter
from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import LOG_FILE_NAME, TOKEN_KINDS, TokenCounts
from otel_token_usage.testing import FakeProvider

__all__ = [
    "ANTHROPIC_MODEL",
    "COLUMNS",
    "OPENAI_MODEL",
    "SYSTEM_PROMPT",
    "Counts",
    "ModelRates",
    "anthropic_client",
    "arguments",
    "billed_counts",
    "fake_cache_splits",
    "fresh_log",
    "line_cost",
    "logged_cache_split",
    "logged_counts",
    "model_rates",
    "openai_client",
    "print_cache_check",
    "session_logs",
    "show_log",
    "token_usage_provider",
]

ANTHROPIC_MODEL = os.environ.get("EXAMPLES_ANTHROPIC_MODEL") or "claude-sonnet-5-5"
OPENAI_MODEL = os.environ.get("EXAMPLES_OPENAI_MODEL") or "gpt-6-luna"

# Every field of a line with the SQL type of its Rust type (u32 -> UINTEGER, u64 and
# usize -> UBIGINT), for DuckDB's `read_json(columns=...)`, in line order. Declared, not
# sampled: DuckDB infers types from the first rows of the first files, so a field that
# only later files carry would be missing and a count past the signed 64-bit range in a
# later line would stop the query. Lines without the extension fields (the seed format,
# or logs of older versions) read them as NULL.
COLUMNS = {
    "ts": "VARCHAR",
    "session_id": "VARCHAR",
    "model": "VARCHAR",
    "provider": "VARCHAR",
    "message_count": "UBIGINT",
    "cache_creation_input_tokens": "UBIGINT",
    "cache_read_input_tokens": "UBIGINT",
    "input_tokens": "UBIGINT",
    "output_tokens": "UBIGINT",
    "thinking_tokens": "UBIGINT",
    "system_tokens": "UINTEGER",
    "summary_tokens": "UINTEGER",
    "window_tokens": "UINTEGER",
    "total_tokens": "UINTEGER",
    "max_context_tokens": "UINTEGER",
    "budget_limit": "UINTEGER",
    "prompt_cached_tool_outputs": "UBIGINT",
    "prompt_cached_tool_tokens_saved": "UINTEGER",
    "truncation_occurred": "BOOLEAN",
    "segments_removed": "UBIGINT",
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "duration_ms": "UBIGINT",
    "cache_creation_5m_input_tokens": "UBIGINT",
    "cache_creation_1h_input_tokens": "UBIGINT",
}

# Over 1,024 tokens, so that the real APIs cache it too (their minimum cacheable prefix).
SYSTEM_PROMPT = "You are a careful coding agent. " + " ".join(
    f"Rule {n}: read the relevant files before changing anything, run the tests after every "
    "change, keep each change small, and report exactly what you did and why."
    for n in range(1, 41)
)


def arguments(description: str) -> argparse.ArgumentParser:
    """An argument parser with the `--sessions-dir` option every example takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--sessions-dir",
        type=Path,
        default=Path("sessions"),
        help="root of the session directories (default: ./sessions)",
    )
    return parser


def session_logs(sessions_dir: Path) -> list[Path]:
    """The session logs under `sessions_dir`; when there are none yet, the demo agent
    (`python -m otel_token_usage.demo`, offline) is run first to write one."""
    logs = sorted(sessions_dir.glob(f"*/{LOG_FILE_NAME}"))
    if not logs:
        # Imported here: only the analysis examples use the demo (and its time-machine).
        from otel_token_usage import demo  # noqa: PLC0415

        print(
            f"No session logs under {sessions_dir}: running the demo agent to write one.",
            file=sys.stderr,  # stdout is the analysis' own (it may be JSON)
        )
        logs = [demo.run(sessions_dir)]
    return logs


def fresh_log(sessions_dir: Path, session_id: str) -> Path:
    """The path of the session's log, emptied so that the example shows its own lines."""
    log = SessionLogWriter(sessions_dir).path_of(session_id)
    log.unlink(missing_ok=True)
    return log


def token_usage_provider(sessions_dir: Path, service_name: str) -> TracerProvider:
    """A `TracerProvider` whose LLM spans become lines under `sessions_dir`.

    `SessionSpanProcessor` comes first, so that `session(...)` is stamped onto each LLM
    span when it starts; the exporter runs later, in the batch processor's thread.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(TokenUsageSpanExporter(sessions_dir)))
    return provider


@contextmanager
def anthropic_client(**options: Any) -> Iterator[anthropic.Anthropic]:
    """The real Anthropic API if `ANTHROPIC_API_KEY` is set, else the local fake."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        print(f"API: Anthropic, model {ANTHROPIC_MODEL} (ANTHROPIC_API_KEY is set)\n")
        yield anthropic.Anthropic(**options)
        return
    with FakeProvider() as fake:
        print(f"API: the local fake provider at {fake.base_url} (no ANTHROPIC_API_KEY)\n")
        yield anthropic.Anthropic(base_url=fake.base_url, api_key="fake", max_retries=0, **options)


@contextmanager
def openai_client(**options: Any) -> Iterator[openai.OpenAI]:
    """The real OpenAI API if `OPENAI_API_KEY` is set, else the local fake."""
    if os.environ.get("OPENAI_API_KEY"):
        print(f"API: OpenAI, model {OPENAI_MODEL} (OPENAI_API_KEY is set)\n")
        yield openai.OpenAI(**options)
        return
    with FakeProvider() as fake:
        print(f"API: the local fake provider at {fake.openai_base_url} (no OPENAI_API_KEY)\n")
        yield openai.OpenAI(base_url=fake.openai_base_url, api_key="fake", max_retries=0, **options)


def show_log(log: Path, notes: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Print the log's lines, then one row per line: prompt size, its parts, the cache-hit
    ratio and the note given for that call. Returns the parsed lines."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    print(f"{len(lines)} lines in {log}:\n")
    for line in lines:
        print(line)
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    print(
        f"\n{'#':>2}  {'model':<20} {'prompt':>7} {'fresh':>7} {'read':>7} {'write':>7} "
        f"{'output':>6}   hit  note"
    )
    for number, rec in enumerate(records, start=1):
        read, write = rec["cache_read_input_tokens"], rec["cache_creation_input_tokens"]
        prompt = rec["input_tokens"] + read + write
        hit = read / prompt if prompt else 0.0
        note = notes[number - 1] if number <= len(notes) else ""
        print(
            f"{number:>2}  {rec['model']:<20} {prompt:>7} {rec['input_tokens']:>7} {read:>7} "
            f"{write:>7} {rec['output_tokens']:>6}  {hit:4.0%}  {note}"
        )
    print()
    return records


Counts = tuple[int, int, int, int]
"""(fresh input, cache read, cache write, output) of one call."""


def billed_counts(usage: anthropic.types.Usage) -> Counts:
    """The `Counts` of an Anthropic `Usage`, as the SDK handed it to the caller."""
    return (
        usage.input_tokens or 0,
        usage.cache_read_input_tokens or 0,
        usage.cache_creation_input_tokens or 0,
        usage.output_tokens or 0,
    )


def fake_cache_splits(fake: FakeProvider) -> list[tuple[int, int, int]]:
    """(fresh input, cache read, cache write) of each answer the fake gave, from its own
    simulation of the provider's prompt cache: what a line must say."""
    return [
        (sent.cache.uncached, sent.cache.read, sent.cache.write)
        for sent in fake.responses
        if sent.cache is not None
    ]


def logged_cache_split(record: Mapping[str, Any]) -> tuple[int, int, int]:
    """(fresh input, cache read, cache write) of a session-log line."""
    return (
        record["input_tokens"],
        record["cache_read_input_tokens"],
        record["cache_creation_input_tokens"],
    )


def print_cache_check(
    records: Sequence[Mapping[str, Any]], splits: Sequence[tuple[int, int, int]], unit: str
) -> None:
    """Print how many lines say exactly the fake's cache split of their `unit` (call or
    request), in order."""
    pairs = zip(records, splits, strict=False)
    same = sum(1 for record, split in pairs if logged_cache_split(record) == split)
    print(f"{same} of {len(splits)} lines match the fake's cache split for their {unit}")


def line_cost(record: Mapping[str, Any], book: PriceBook) -> float | None:
    """USD of one line at `genai-prices`' price for its provider and model (cache reads,
    5m and 1h cache writes and output each at their own price), or None if unpriced."""
    price = book.price(record["provider"], record["model"], record["ts"][:10])
    if price is None:
        return None
    tokens = TokenCounts(**{kind: record.get(kind) or 0 for kind in TOKEN_KINDS})
    return float(price.cost(price.tier_of(tokens.prompt_tokens), tokens, 1))


def logged_counts(record: Mapping[str, Any]) -> Counts:
    """The `Counts` of a session-log line."""
    return (
        record["input_tokens"],
        record["cache_read_input_tokens"],
        record["cache_creation_input_tokens"],
        record["output_tokens"],
    )


ModelRates = tuple[str, str, float, float, float, float, float]
"""(provider, model, then USD per million tokens of fresh input, cache reads, 5-minute
cache writes, 1-hour cache writes and output)."""


def model_rates(models: Iterable[tuple[str, str, str]]) -> list[ModelRates]:
    """The prices of `(provider, model, day)` from `genai-prices`' bundled data (offline),
    as the `token-usage` commands use them; a model without a known price is left out.

    Only the base tier (prompts under e.g. 200k tokens) is given: enough for these
    examples; `token-usage cost` prices every tier and day exactly.
    """
    book = PriceBook()
    table: list[ModelRates] = []
    for provider, model, day in models:
        price = book.price(provider, model, day)
        if price is not None:
            r = price.tiers[0]
            table.append(
                (
                    provider,
                    model,
                    float(r.input),
                    float(r.cache_read),
                    float(r.cache_write_5m),
                    float(r.cache_write_1h),
                    float(r.output),
                )
            )
    return table
