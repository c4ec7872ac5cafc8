"""pydantic-ai's own conversation ids, and `session(..., override=True)`.

pydantic-ai traces its agents itself (no instrumentation of ours is used here): every
model request is a `chat {model}` span carrying `gen_ai.conversation.id`. That id is the
application's when it passes `conversation_id=` to a run, else the one on the
`message_history` it continues, else a fresh UUID7 for the run. A span's own
conversation id wins over `session()`: an id the application gave a producer is meant.
So an application that keeps its own chat id and runs pydantic-ai without passing it
would see each new conversation in a session named by a UUID.

`session(chat_id, override=True)` makes the application's session win over any id a
span brings: the span gets `gen_ai.conversation.id = chat_id` (on the trace too) and
its line lands in `chat_id`'s log, with the session's budget and message count.

This example runs two turns of one chat (the second continues the first's message
history) three ways, and prints where the lines went:

1. `session("chat-42")`: the lines go to pydantic-ai's own id (one UUID7 for both
   turns, carried over in the message history), not to `chat-42`;
2. `session("chat-43", override=True)`: the lines go to `chat-43`;
3. `agent.run(..., conversation_id="chat-44")` inside `session("ambient")`: the id the
   application gave pydantic-ai wins, the lines go to `chat-44`.

Run from the repository root: `python -m examples.pydantic_ai_sessions
[--sessions-dir DIR]` (needs `pydantic-ai-slim[openai]`, in the `examples` extra).
Offline against the local fake provider; with `OPENAI_API_KEY` set it makes six small,
real (billed) calls. Writes `DIR/chat-42`..`chat-44` (and the UUID session of way 1),
replacing an earlier run's lines of the named sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.capabilities.instrumentation import Instrumentation
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from examples._common import (
    OPENAI_MODEL,
    arguments,
    fresh_log,
    openai_client,
    show_log,
    token_usage_provider,
)
from otel_token_usage import session
from otel_token_usage.record import LOG_FILE_NAME

QUESTIONS = ("Plan the change.", "Now list the tests to run.")
NAMED = ("chat-42", "chat-43", "chat-44")


@contextmanager
def agent_for(sessions_dir: Path) -> Iterator[Any]:
    """A pydantic-ai agent on the fake (or real) OpenAI API, traced into `sessions_dir`."""
    provider = token_usage_provider(sessions_dir, "examples-pydantic-ai")
    try:
        with openai_client() as client:
            model = OpenAIChatModel(
                OPENAI_MODEL, provider=OpenAIProvider(openai_client=_async(client))
            )
            settings = InstrumentationSettings(tracer_provider=provider, include_content=False)
            yield Agent(
                model, instructions="Answer briefly.", capabilities=[Instrumentation(settings)]
            )
    finally:
        provider.shutdown()  # the batch processor writes the last lines now


def _async(client: Any) -> Any:
    """An async client on the same endpoint as `client` (pydantic-ai's models are async)."""
    import openai  # noqa: PLC0415

    return openai.AsyncOpenAI(base_url=client.base_url, api_key=client.api_key, max_retries=0)


def two_turns(agent: Any, **run_options: Any) -> None:
    """One chat: a question, then a follow-up that continues its message history."""
    first = agent.run_sync(QUESTIONS[0], **run_options)
    agent.run_sync(QUESTIONS[1], message_history=first.all_messages(), **run_options)


def run(sessions_dir: Path) -> dict[str, int]:
    """The three ways; returns how many lines each session's log got."""
    for name in NAMED:
        fresh_log(sessions_dir, name)
    before = {log.parent.name for log in sessions_dir.glob(f"*/{LOG_FILE_NAME}")}
    with agent_for(sessions_dir) as agent:
        with session("chat-42"):
            two_turns(agent)
        with session("chat-43", override=True):
            two_turns(agent)
        with session("ambient"):
            two_turns(agent, conversation_id="chat-44")
    logs = {log.parent.name: log for log in sessions_dir.glob(f"*/{LOG_FILE_NAME}")}
    return {
        name: len(logs[name].read_text(encoding="utf-8").splitlines()) if name in logs else 0
        for name in (*NAMED, *sorted(set(logs) - before - set(NAMED)))
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.pydantic_ai_sessions`."""
    args = arguments("pydantic-ai's conversation ids and session(override=True).").parse_args(argv)
    counts = run(args.sessions_dir)
    for name, lines in counts.items():
        way = {
            "chat-42": "session('chat-42'): nothing, pydantic-ai's own id won",
            "chat-43": "session('chat-43', override=True)",
            "chat-44": "run(conversation_id='chat-44') inside session('ambient')",
        }.get(name, "pydantic-ai's own id, from way 1 (session('chat-42'))")
        print(f"{name}: {lines} line(s) -- {way}")
        if lines:
            show_log(args.sessions_dir / name / LOG_FILE_NAME)


if __name__ == "__main__":
    main()
