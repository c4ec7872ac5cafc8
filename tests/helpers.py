"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenBudgetUsage, TokenUsageRecord


class MakeSpan(Protocol):
    def __call__(
        self, attributes: Mapping[str, AttributeValue], name: str = "chat model"
    ) -> ReadableSpan: ...


def chat_attributes(**overrides: AttributeValue) -> dict[str, AttributeValue]:
    """Attributes of a typical instrumented Anthropic chat span (inclusive input)."""
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-opus-4-8",
        "gen_ai.response.model": "claude-opus-4-8",
        "gen_ai.conversation.id": "sess-1",
        "gen_ai.usage.input_tokens": 14_300,
        "gen_ai.usage.cache_read.input_tokens": 12_000,
        "gen_ai.usage.cache_write.input_tokens": 1_500,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.reasoning.output_tokens": 7,
    }
    attrs.update(overrides)
    return attrs


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def budget_snapshot(**overrides: int | bool) -> TokenBudgetUsage:
    """A TokenBudgetUsage whose fields all differ, so a swapped field shows."""
    values: dict[str, int | bool] = {
        "system_tokens": 1_200,
        "summary_tokens": 300,
        "window_tokens": 9_000,
        "total_tokens": 10_500,
        "max_context_tokens": 200_000,
        "budget_limit": 150_000,
        "truncation_occurred": True,
        "segments_removed": 2,
        "prompt_cached_tool_outputs": 3,
        "prompt_cached_tool_tokens_saved": 4_000,
        "thinking_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    values.update(overrides)
    return TokenBudgetUsage.model_validate(values)


def log_line(
    ts: str,
    session: str = "s",
    *,
    model: str = "claude-opus-4-8",
    provider: str = "anthropic",
    message_count: int = 0,
    fresh: int = 0,
    read: int = 0,
    write: int = 0,
    write_1h: int | None = None,
    out: int = 0,
    think: int = 0,
    summary: int = 0,
    segments: int = 0,
    truncated: bool = False,
) -> str:
    """One session-log line, `\\n`-terminated, as the exporter writes it; fields not
    given are 0/false and extension fields are null (but the 1-hour cache write)."""
    record = TokenUsageRecord.new(
        ts, session, model, provider, message_count, None, write, read, fresh, out, think
    )
    updates: dict[str, object] = {
        "summary_tokens": summary,
        "segments_removed": segments,
        "truncation_occurred": truncated,
        "cache_creation_1h_input_tokens": write_1h,
    }
    return record.model_copy(update=updates).to_json_line() + "\n"


def run_cli(
    *args: str | Path, stdin: str | bytes | None = None, without_root_override: bool = False
) -> subprocess.CompletedProcess[str]:
    """`token-usage ARGS` as a real subprocess (text output). `without_root_override` runs
    it without the capabilities that let root read any file, so that file modes hold for
    it as for any user (the tests run as root in CI)."""
    env = {k: v for k, v in os.environ.items() if k != "OTEL_TOKEN_USAGE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "otel_token_usage", *map(str, args)],
        capture_output=True,
        input=stdin.decode() if isinstance(stdin, bytes) else stdin,
        text=True,
        timeout=120,
        env=env,
        check=False,
        preexec_fn=_drop_file_override if without_root_override else None,
    )


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_file_override() -> None:
    # In the child before exec: root keeps only the capabilities left in its bounding set,
    # so dropping these two makes file modes apply to it.
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `statement`."""
    code = f"import sys\n{statement}\nprint(' '.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())
