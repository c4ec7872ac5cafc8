"""`make demo`: an agent loop through the real Anthropic SDK, logged and analysed.

Twenty turns of one agent session go through the real `anthropic` client to the local
fake provider (`otel_token_usage.testing`), which bills prompt caching as Anthropic
does. `AnthropicInstrumentor` makes each call a span, `SessionSpanProcessor` stamps the
session and the agent's prompt budget onto it, and `TokenUsageSpanExporter` writes
`./sessions/demo/token-usage.jsonl`. The loop meets the two events the log exists for:

- a 20-minute pause before turn 8, longer than the 5-minute cache TTL: a cold round;
- a context compression before turn 14 (the history becomes a summary): a cold round.

Time is simulated with `time-machine`, so the pause takes no time: span timestamps and
the fake provider's cache clock both follow it. After the loop the log's lines are
shown, then `token-usage cache` reads them back and names the cold rounds.

Run: `python -m otel_token_usage.demo [--sessions-dir DIR]`. Offline; no API key.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_token_usage import SessionSpanProcessor, TokenBudgetUsage, session
from otel_token_usage.cli import main as token_usage
from otel_token_usage.export import TokenUsageSpanExporter
from otel_token_usage.record import LOG_FILE_NAME, session_dir_name
from otel_token_usage.testing import FakeProvider, count_tokens

if TYPE_CHECKING:
    # The demo's own extra (`anthropic`, `time-machine`) is imported when it runs.
    import anthropic
    from anthropic.types import MessageParam, TextBlockParam, ThinkingConfigEnabledParam

SESSION = "demo"
MODEL = "claude-opus-4-8"
TURNS = 20
PAUSE_BEFORE = 8
PAUSE_S = 20 * 60
COMPRESS_BEFORE = 14

SYSTEM = " ".join(
    f"Rule {n}: the agent plans, calls tools, checks each result and reports what it did."
    for n in range(1, 30)
)
EPHEMERAL: dict[str, Any] = {"type": "ephemeral"}  # 5-minute TTL
SYSTEM_BLOCKS: list[TextBlockParam] = [
    {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
]
THINKING: ThinkingConfigEnabledParam = {"type": "enabled", "budget_tokens": 1024}


class Agent:
    """A minimal agent: a cached system prompt, a growing history with a moving cache
    breakpoint on its last message, and a compression that swaps history for a summary."""

    def __init__(self, client: anthropic.Anthropic) -> None:
        self.client = client
        self.messages: list[dict[str, Any]] = []
        self.summary = ""
        self.segments_removed = 0
        self.last_cache_read = 0

    def compress(self) -> None:
        """Replace the history with a summary, as agents do near their context limit."""
        self.segments_removed = len(self.messages)
        self.summary = "Summary of the work so far: " + " ".join(
            f"step {n} scanned its files and found nothing to fix;"
            for n in range(1, len(self.messages) // 2 + 1)
        )
        self.messages = [
            {"role": "user", "content": self.summary},
            {"role": "assistant", "content": "Understood; continuing from the summary."},
        ]

    def step(self, question: str) -> None:
        """One turn: ask, inside the session, with this call's budget snapshot."""
        for message in self.messages:  # only the newest message carries the breakpoint
            if isinstance(message["content"], list):
                for block in message["content"]:
                    block.pop("cache_control", None)
        self.messages.append(
            {
                "role": "user",
                "content": [{"type": "text", "text": question, "cache_control": EPHEMERAL}],
            }
        )
        with session(SESSION, budget=self._budget(), message_count=len(self.messages)):
            reply = self.client.messages.create(
                model=MODEL,
                max_tokens=2048,
                system=SYSTEM_BLOCKS,
                messages=cast("list[MessageParam]", self.messages),
                thinking=THINKING,
            )
        text = "".join(block.text for block in reply.content if block.type == "text")
        self.messages.append({"role": "assistant", "content": text})
        self.last_cache_read = reply.usage.cache_read_input_tokens or 0
        self.segments_removed = 0

    def _budget(self) -> TokenBudgetUsage:
        system = count_tokens(SYSTEM)
        window = sum(count_tokens(_text(m["content"])) for m in self.messages)
        summary = count_tokens(self.summary)
        return TokenBudgetUsage(
            system_tokens=system,
            summary_tokens=summary,
            window_tokens=window,
            total_tokens=system + window,
            max_context_tokens=200_000,
            budget_limit=180_000,
            truncation_occurred=self.segments_removed > 0,
            segments_removed=self.segments_removed,
            prompt_cached_tool_outputs=0,
            prompt_cached_tool_tokens_saved=0,
            thinking_tokens=0,
            cache_read_input_tokens=self.last_cache_read,
        )


def _tool_output(turn: int) -> str:
    """What a tool returned this turn: large, as tool outputs in agent histories are."""
    return " ".join(f"line {turn}.{n}: status ok, 12 files scanned." for n in range(1, 70))


def _text(content: Any) -> str:
    return content if isinstance(content, str) else " ".join(b["text"] for b in content)


def run(sessions_dir: Path) -> Path:
    """Run the agent loop into `sessions_dir`; return the session log's path."""
    import anthropic  # noqa: PLC0415 - the demo extra, needed only when the demo runs
    import time_machine  # noqa: PLC0415

    from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor  # noqa: PLC0415

    log = sessions_dir / session_dir_name(SESSION) / LOG_FILE_NAME
    log.unlink(missing_ok=True)  # show this run's lines only

    provider = TracerProvider(resource=Resource.create({"service.name": "token-usage-demo"}))
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(TokenUsageSpanExporter(sessions_dir)))
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    start = time.time() - TURNS * 60 - PAUSE_S
    try:
        with (
            time_machine.travel(start, tick=True) as clock,
            FakeProvider(clock=time.time) as fake,
        ):
            # The SDK's own tracing is off so that our instrumentor makes the spans; with
            # it on, the SDK's spans are stamped and logged just the same.
            client = anthropic.Anthropic(
                base_url=fake.base_url, api_key="demo", open_telemetry=False, max_retries=0
            )
            agent = Agent(client)
            for turn in range(1, TURNS + 1):
                if turn > 1:
                    clock.shift(PAUSE_S if turn == PAUSE_BEFORE else 25 + turn * 3)
                if turn == COMPRESS_BEFORE:
                    agent.compress()
                agent.step(f"Turn {turn}: here is the tool output. {_tool_output(turn)}")
    finally:
        instrumentor.uninstrument()
        provider.shutdown()  # flushes the batch processor, then closes the exporter
    return log


def shell_command() -> str:
    """How to run `token-usage` from the shell that started this Python: the bare name
    when the shell finds this installation's script by it, else the script's path
    (relative to the current directory when it is below it, as `.venv/bin/token-usage`
    after `make demo`), else `python -m otel_token_usage` with this interpreter."""
    script = Path(sys.executable).parent / "token-usage"
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m otel_token_usage"
    found = shutil.which("token-usage")
    if found is not None and Path(found).resolve() == script.resolve():
        return "token-usage"
    return shlex.quote(str(_relative(script)))


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m otel_token_usage.demo`."""
    parser = argparse.ArgumentParser(description="Run the demo agent, then analyse its log.")
    parser.add_argument("--sessions-dir", type=Path, default=Path("sessions"))
    args = parser.parse_args(argv)
    log = run(args.sessions_dir)
    lines = log.read_text(encoding="utf-8").splitlines()
    print(f"{len(lines)} calls logged in {log}; the first two lines:\n")
    print("\n".join(lines[:2]))
    # Printed as the user can paste them: `token-usage` is on PATH only in an activated
    # virtual environment, which `make demo` does not (and cannot) leave behind.
    command = shell_command()
    where = shlex.quote(str(log))
    print(f"\n$ {command} cache {where}\n", flush=True)
    token_usage(["cache", str(log)])
    print(f"\n$ {command} report {where}\n", flush=True)
    token_usage(["report", str(log)])
    print(f"\nTry it yourself: {command} report {shlex.quote(str(args.sessions_dir))}")
    activate = Path(sys.executable).parent / "activate"
    if command != "token-usage" and activate.is_file():
        print(f"(or put it on PATH first: . {shlex.quote(str(_relative(activate)))})")


def _relative(path: Path) -> Path:
    """`path` relative to the current directory if it is below it, else as it is."""
    try:
        return path.absolute().relative_to(Path.cwd())
    except ValueError:
        return path


if __name__ == "__main__":
    main()
