"""A small agent with no OpenTelemetry code and no import of ours: `opentelemetry-instrument`
adds all of it (see README.md beside this file for the command, or run `run.sh`).

It imports only the provider SDKs, configured by their own variables
(`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `OPENAI_API_KEY`, `OPENAI_BASE_URL`), and
handles two support tickets with Anthropic, then writes a digest with OpenAI.

How each call's session is named, still without code of ours:

- Anthropic: each ticket's client is a copy made with
  `open_telemetry={..., "conversation_id": ticket}`. The Anthropic SDK then traces the
  call itself (its tracing is on by default and uses the tracer provider that
  `opentelemetry-instrument` set up), with `gen_ai.conversation.id` = the ticket: the
  line's session. Our `anthropic_token_usage` instrumentor, loaded too, sees the SDK's
  own span coming and adds none.
- OpenAI: the call names no session, so its line goes to the fallback session, which
  `OTEL_TOKEN_USAGE_FALLBACK_SESSION` names (one per process: right for a batch job or
  one run of a CLI agent).

For several sessions in one process with any client, wrap each conversation's calls in
`with session(...)` (`examples/anthropic_instrumentor.py`): one line of code, so no longer
quite zero code; `opentelemetry-instrument` has already added `SessionSpanProcessor`.
"""

from __future__ import annotations

import anthropic
import openai

TICKETS = {
    "ticket-1041": "The nightly export job fails with 'disk quota exceeded'.",
    "ticket-1042": "Users report that the login page is slow on Mondays.",
}
ANTHROPIC_MODEL = "claude-sonnet-5-5"
OPENAI_MODEL = "gpt-6-luna"
# Long and the same for every ticket, so that the API caches it.
SYSTEM = "You triage support tickets for an operations team. " + " ".join(
    f"Guideline {n}: restate the problem, list the likely causes in order, name the first "
    "check to run and who should run it, and keep the answer under ten lines."
    for n in range(1, 41)
)


def triage(client: anthropic.Anthropic, ticket: str, text: str) -> str:
    """Two turns about one ticket, in the ticket's own conversation."""
    conversation = client.with_options(
        open_telemetry={**client.open_telemetry, "conversation_id": ticket}
    )
    system: list[anthropic.types.TextBlockParam] = [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": text}]
    answer = ""
    for follow_up in ("What is the first check?", "Who should run it?"):
        reply = conversation.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=256, system=system, messages=messages
        )
        answer = "".join(block.text for block in reply.content if block.type == "text")
        messages += [
            {"role": "assistant", "content": answer or "(no answer)"},
            {"role": "user", "content": follow_up},
        ]
    return answer


def main() -> None:
    """Triage every ticket, then ask for a digest of the answers."""
    claude = anthropic.Anthropic(max_retries=1)
    answers = {ticket: triage(claude, ticket, text) for ticket, text in TICKETS.items()}
    digest = openai.OpenAI(max_retries=1).chat.completions.create(
        model=OPENAI_MODEL,
        max_completion_tokens=256,
        messages=[
            {"role": "system", "content": "Write a two-line digest for the on-call lead."},
            {"role": "user", "content": "\n".join(f"{t}: {a}" for t, a in answers.items())},
        ],
    )
    print(f"triaged {len(answers)} tickets; digest: {digest.choices[0].message.content!r}")


if __name__ == "__main__":
    main()
