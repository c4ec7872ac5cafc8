"""The provider examples (issue 13) run as their docstrings say, offline against the
fake, each as a subprocess the way a user runs it, and write the lines they promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_token_usage.record import LOG_FILE_NAME

pytestmark = pytest.mark.slow  # subprocesses and real servers: `make test` runs them

ROOT = Path(__file__).resolve().parent.parent
# Nothing that could send an SDK to a real API (or look for real credentials) reaches them.
_FOREIGN = ("ANTHROPIC_", "OPENAI_", "OTEL_", "GOOGLE_", "GEMINI_", "AWS_", "EXAMPLES_")


def _example(name: str, sessions_dir: Path) -> tuple[str, list[dict[str, Any]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    done = subprocess.run(
        [sys.executable, "-m", f"examples.{name}", "--sessions-dir", str(sessions_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    session = name.replace("_", "-")
    text = (sessions_dir / session / LOG_FILE_NAME).read_text(encoding="utf-8")
    return done.stdout, [json.loads(line) for line in text.splitlines()]


def test_gemini_example(tmp_path: Path) -> None:
    """Six requests: a cache read, a stream, two for one function-calling call, Vertex."""
    out, lines = _example("gemini_instrumentor", tmp_path)
    assert len(lines) == 6
    assert [r["provider"] for r in lines] == ["gcp.gemini"] * 5 + ["gcp.vertex_ai"]
    assert lines[1]["cache_read_input_tokens"] > 0 and lines[1]["thinking_tokens"] > 0
    assert lines[3]["message_count"] == 1 and lines[4]["message_count"] == 3
    assert "6 of 6 lines match the fake's cache split" in out


def test_bedrock_example(tmp_path: Path) -> None:
    """Three calls: 5m + 1h cache writes, then reads; thinking inside the output."""
    out, lines = _example("bedrock_instrumentor", tmp_path)
    assert len(lines) == 3
    assert {r["provider"] for r in lines} == {"aws.bedrock"}
    assert lines[0]["cache_creation_1h_input_tokens"] > 0
    assert lines[0]["cache_creation_5m_input_tokens"] > 0
    assert lines[1]["cache_read_input_tokens"] == lines[0]["cache_creation_input_tokens"]
    assert lines[2]["output_tokens"] > lines[1]["output_tokens"]
    assert "3 of 3 lines match the fake's cache split" in out


def test_openai_compatible_example(tmp_path: Path) -> None:
    """Two calls per provider, each named from its host, each priced."""
    out, lines = _example("openai_compatible", tmp_path)
    assert [r["provider"] for r in lines[::2]] == [
        "deepseek",
        "x_ai",
        "groq",
        "mistral_ai",
        "azure.ai.openai",
    ]
    assert all(r["cache_read_input_tokens"] > 0 for r in lines[1::2])
    assert "10 of 10 lines match the fake's cache split" in out
    assert "unpriced" not in out
