"""examples/manual_spans.py keeps working: the scripted session lands as ten exact lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from examples import manual_spans as demo

from otel_token_usage.record import LOG_FILE_NAME

pytestmark = pytest.mark.slow  # subprocesses and real servers: `make test` runs them


def test_demo_writes_one_line_per_scripted_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each scripted round becomes one line whose usage is what the round billed."""
    demo.main(["--sessions-dir", str(tmp_path)])
    demo.main(["--sessions-dir", str(tmp_path)])  # a re-run replaces, never appends
    lines = (tmp_path / demo.SESSION / LOG_FILE_NAME).read_text().splitlines()
    assert len(lines) == len(demo.ROUNDS)
    for line, round_ in zip(lines, demo.ROUNDS, strict=True):
        record = json.loads(line)
        assert record["input_tokens"] == round_.fresh
        assert record["cache_read_input_tokens"] == round_.cache_read
        assert record["cache_creation_input_tokens"] == round_.cache_write
        assert record["thinking_tokens"] == round_.thinking
    assert "20 min pause" in capsys.readouterr().out
