"""The Gemini instrumentor: each request of `google-genai` one span, one line.

`GoogleGenAIInstrumentor().instrument(tracer_provider=...)` covers
`models.generate_content` and `generate_content_stream`, sync and async, on the Gemini
API and on Vertex AI. One session, five requests:

1. `generate_content` with a system instruction and thinking: the first call;
2. the same again: Gemini's implicit cache now holds the prompt, so the line has cache
   reads (`cached_content_token_count`, counted inside `prompt_token_count`: the line's
   fresh input is the rest) and thinking (`thoughts_token_count`, billed as output);
3. `generate_content_stream`: the last chunk's usage (the counts are running totals);
4. and 5. one `chat.send_message` with a Python function as a tool: automatic function
   calling sends two requests (the model asks for the function, then answers with its
   result) and returns only the last response; both requests are billed, so both are
   lines.

Then a Vertex AI client (`vertexai=True`) makes one more call: provider `gcp.vertex_ai`
instead of `gcp.gemini`. The example checks each line against the fake's own simulation
of the prompt cache.

Run from the repository root: `python -m examples.gemini_instrumentor [--sessions-dir
DIR]`. Offline only, against the local fake provider (explicit test credentials, so the
SDK never looks for real ones). Writes `DIR/gemini-instrumentor/token-usage.jsonl`,
replacing an earlier run's.
"""

from __future__ import annotations

from pathlib import Path

import google.oauth2.credentials
from google import genai
from google.genai import types

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
from otel_token_usage.instrumentation.google_genai import GoogleGenAIInstrumentor
from otel_token_usage.testing import FakeProvider

SESSION = "gemini-instrumentor"
MODEL = "gemini-2.5-flash"
QUESTION = "List the files you would read first."
NOTES = (
    "generate_content (first call)",
    "generate_content (cache read)",
    "generate_content_stream",
    "function calling: request 1",
    "function calling: request 2",
    "Vertex AI",
)


def local_time(city: str) -> str:
    """The local time in a city (a tool for the model)."""
    return f"It is noon in {city}."


def run(sessions_dir: Path) -> tuple[Path, list[tuple[int, int, int]]]:
    """Make the calls; return the session log's path and the fake's cache split of each."""
    log = fresh_log(sessions_dir, SESSION)
    provider = token_usage_provider(sessions_dir, "examples-gemini")
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    config = types.GenerateContentConfig(
        system_instruction=SYSTEM_PROMPT,
        thinking_config=types.ThinkingConfig(thinking_budget=512),
    )
    try:
        with FakeProvider() as fake:
            print(f"API: the local fake provider at {fake.base_url}\n")
            options = types.HttpOptions(base_url=fake.base_url)
            client = genai.Client(api_key="fake", http_options=options)
            with session(SESSION):
                for _ in range(2):
                    client.models.generate_content(model=MODEL, contents=QUESTION, config=config)
                for _chunk in client.models.generate_content_stream(
                    model=MODEL, contents=QUESTION, config=config
                ):
                    pass
                tools = types.GenerateContentConfig(tools=[local_time])
                chat = client.chats.create(model=MODEL, config=tools)
                chat.send_message("What time is it in Paris?")
                vertex = genai.Client(
                    vertexai=True,
                    project="example-project",
                    location="us-central1",
                    credentials=google.oauth2.credentials.Credentials(token="fake"),  # type: ignore[no-untyped-call]
                    http_options=options,
                )
                vertex.models.generate_content(model=MODEL, contents=QUESTION)
            splits = fake_cache_splits(fake)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # the batch processor writes the last lines now
    return log, splits


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.gemini_instrumentor`."""
    args = arguments("Gemini and Vertex AI requests through google-genai, logged.").parse_args(argv)
    log, splits = run(args.sessions_dir)
    lines = show_log(log, NOTES)
    providers = sorted({line["provider"] for line in lines})
    print(f"providers: {', '.join(providers)}")
    print_cache_check(lines, splits, "request")


if __name__ == "__main__":
    main()
