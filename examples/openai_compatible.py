"""The OpenAI instrumentor with the OpenAI-compatible providers: DeepSeek, xAI, Groq,
Mistral and Azure OpenAI, each named after its host and read in its own usage shape.

`OpenAIInstrumentor` names the provider from the client's `base_url` host
(`api.deepseek.com` -> `deepseek`, `api.x.ai` -> `x_ai`, `api.groq.com` -> `groq`,
`api.mistral.ai` -> `mistral_ai`, `*.openai.azure.com` and `AzureOpenAI` clients ->
`azure.ai.openai`). Each provider is asked twice, the second time streamed (and read
from the cached prefix):

- DeepSeek (`deepseek-reasoner`): `prompt_cache_hit_tokens`
  are the cache reads, `prompt_cache_miss_tokens` the fresh input, the reasoning is in
  `completion_tokens`;
- xAI (`grok-4`): the reasoning tokens come on top of `completion_tokens`, and the line's
  output counts both;
- Groq, Mistral, Azure OpenAI: OpenAI's shape (`prompt_tokens_details.cached_tokens`).

Offline only: the clients are pointed at the providers' real hosts over plain HTTP, with
the local fake provider as their HTTP proxy, so nothing leaves 127.0.0.1 and the fake
answers as each provider would. The example checks each line against the fake's own
simulation of the prompt cache, and prices it with `genai-prices` (each provider's own
cache-read price; thinking is billed as output).

Run from the repository root: `python -m examples.openai_compatible [--sessions-dir
DIR]`. Writes `DIR/openai-compatible/token-usage.jsonl`, replacing an earlier run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai

from examples._common import (
    SYSTEM_PROMPT,
    arguments,
    fake_cache_splits,
    fresh_log,
    line_cost,
    print_cache_check,
    show_log,
    token_usage_provider,
)
from otel_token_usage import session
from otel_token_usage.instrumentation.openai import OpenAIInstrumentor
from otel_token_usage.pricing import PriceBook
from otel_token_usage.testing import FakeProvider

SESSION = "openai-compatible"
# (client class, its options, model); base URLs are the providers' own hosts over http.
PROVIDERS: tuple[tuple[type[Any], dict[str, str], str], ...] = (
    (openai.OpenAI, {"base_url": "http://api.deepseek.com"}, "deepseek-reasoner"),
    (openai.OpenAI, {"base_url": "http://api.x.ai/v1"}, "grok-4"),
    (openai.OpenAI, {"base_url": "http://api.groq.com/openai/v1"}, "openai/gpt-oss-120b"),
    (openai.OpenAI, {"base_url": "http://api.mistral.ai/v1"}, "mistral-medium-latest"),
    (
        openai.AzureOpenAI,
        {"azure_endpoint": "http://example.openai.azure.com", "api_version": "2024-10-21"},
        "gpt-4o",
    ),
)
MESSAGES = [
    {"role": "system", "content": SYSTEM_PROMPT},
    {"role": "user", "content": "List the files you would read first."},
]


def run(sessions_dir: Path) -> tuple[Path, list[tuple[int, int, int]]]:
    """Ask each provider twice; return the log's path and the fake's cache split of each."""
    log = fresh_log(sessions_dir, SESSION)
    provider = token_usage_provider(sessions_dir, "examples-openai-compatible")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeProvider() as fake:
            print(f"HTTP proxy: the local fake provider at {fake.proxy_url}\n")
            for client_class, options, model in PROVIDERS:
                proxied = openai.DefaultHttpxClient(proxy=fake.proxy_url)
                with (
                    client_class(
                        api_key="fake", max_retries=0, http_client=proxied, **options
                    ) as client,
                    session(SESSION),
                ):
                    client.chat.completions.create(model=model, messages=MESSAGES)
                    stream = client.chat.completions.create(
                        model=model, messages=MESSAGES, stream=True
                    )
                    for _chunk in stream:
                        pass
            splits = fake_cache_splits(fake)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # the batch processor writes the last lines now
    return log, splits


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.openai_compatible`."""
    args = arguments("OpenAI-compatible providers through the openai SDK.").parse_args(argv)
    log, splits = run(args.sessions_dir)
    lines = show_log(log)
    book = PriceBook()
    for number, line in enumerate(lines, start=1):
        cost = line_cost(line, book)
        print(
            f"line {number:>2}: {line['provider']:<16} output {line['output_tokens']:>3} "
            f"(thinking {line['thinking_tokens']:>2})  "
            + ("unpriced" if cost is None else f"${cost:.6f}")
        )
    print_cache_check(lines, splits, "call")


if __name__ == "__main__":
    main()
