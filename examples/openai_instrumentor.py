"""The OpenAI instrumentor: Chat Completions and Responses calls as spans and lines.

`OpenAIInstrumentor().instrument(tracer_provider=...)` covers `chat.completions.create`
and `responses.create`, sync and async, streamed or not. Four calls of one session:

1. `chat.completions.create`: the long system prompt is sent for the first time;
2. `chat.completions.create(stream=True)` *without* `stream_options.include_usage`: the
   API would send no usage at all. The instrumentor asks for it and hides the extra
   usage-only chunk, so the code below sees exactly the chunks it asked for (it counts
   them and checks that none is usage-only), and the line still has the usage;
3. `responses.create`, twice: the Responses API; the second call reads the instructions
   from the cache.

OpenAI caches prompt prefixes on its own (no `cache_control`): the log's
`cache_read_input_tokens` is `prompt_tokens_details.cached_tokens`, and its
`input_tokens` the rest of the prompt, fresh. OpenAI reports no cache writes.

Run from the repository root: `python -m examples.openai_instrumentor
[--sessions-dir DIR]`. Offline against the local fake provider; with `OPENAI_API_KEY`
set it makes four small, real (billed) calls. Writes
`DIR/openai-instrumentor/token-usage.jsonl`, replacing an earlier run's.
"""

from __future__ import annotations

from pathlib import Path

from openai.types.chat import ChatCompletionMessageParam

from examples._common import (
    OPENAI_MODEL,
    SYSTEM_PROMPT,
    arguments,
    fresh_log,
    openai_client,
    show_log,
    token_usage_provider,
)
from otel_token_usage import session
from otel_token_usage.instrumentation.openai import OpenAIInstrumentor

SESSION = "openai-instrumentor"
NOTES = ("chat", "chat, stream without include_usage", "responses", "responses")


def run(sessions_dir: Path) -> Path:
    """Make the four calls; return the session log's path."""
    log = fresh_log(sessions_dir, SESSION)
    provider = token_usage_provider(sessions_dir, "examples-openai")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with openai_client() as client:
            messages: list[ChatCompletionMessageParam] = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": "List the files you would read first."},
            ]
            with session(SESSION, message_count=len(messages)):
                reply = client.chat.completions.create(
                    model=OPENAI_MODEL, messages=messages, max_completion_tokens=256
                )
            messages.append({"role": "assistant", "content": reply.choices[0].message.content})
            messages.append({"role": "user", "content": "Which test would you run then?"})

            with session(SESSION, message_count=len(messages)):
                chunks = usage_only = 0
                for chunk in client.chat.completions.create(
                    model=OPENAI_MODEL, messages=messages, max_completion_tokens=256, stream=True
                ):
                    chunks += 1
                    usage_only += not chunk.choices or chunk.usage is not None
            print(
                f"the stream without include_usage gave this code {chunks} chunks, "
                f"{usage_only} of them usage-only or with usage\n"
            )

            for question in ("Summarise the plan in one sentence.", "Name one risk."):
                with session(SESSION):  # the instrumentor counts the input items
                    client.responses.create(
                        model=OPENAI_MODEL,
                        instructions=SYSTEM_PROMPT,
                        input=question,
                        max_output_tokens=256,
                    )
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # the batch processor writes the last lines now
    return log


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.openai_instrumentor`."""
    args = arguments("Chat Completions and Responses calls, logged per session.").parse_args(argv)
    show_log(run(args.sessions_dir), NOTES)


if __name__ == "__main__":
    main()
