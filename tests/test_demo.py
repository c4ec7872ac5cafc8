"""`make demo` keeps telling its story: warm rounds, a TTL expiry, a compression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_token_usage import demo
from otel_token_usage.record import LOG_FILE_NAME

pytestmark = pytest.mark.slow  # subprocesses and real servers: `make test` runs them


def test_demo_agent_loop_logs_every_turn_with_its_cold_rounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twenty calls through the real Anthropic SDK give twenty lines; the turn after the
    pause reads nothing from the cache, the turn after compression carries the budget's
    truncation, and `token-usage cache` names both cold rounds."""
    demo.main(["--sessions-dir", str(tmp_path)])
    records = [
        json.loads(line)
        for line in (tmp_path / demo.SESSION / LOG_FILE_NAME).read_text().splitlines()
    ]
    assert len(records) == demo.TURNS
    assert all(r["session_id"] == demo.SESSION and r["system_tokens"] > 0 for r in records)
    warm = records[demo.PAUSE_BEFORE - 2]
    assert warm["cache_read_input_tokens"] > warm["cache_creation_input_tokens"]
    after_pause = records[demo.PAUSE_BEFORE - 1]
    assert after_pause["cache_read_input_tokens"] == 0
    compressed = records[demo.COMPRESS_BEFORE - 1]
    assert compressed["truncation_occurred"] is True
    assert compressed["segments_removed"] > 0
    assert [r["message_count"] for r in records[:3]] == [1, 3, 5]
    out = capsys.readouterr().out
    assert "ttl_expired" in out
    assert "compression" in out
