"""Our line against golden lines written by the real Rust serde_json.

`tests/data/serde_golden.jsonl` is the stdout of `tools/serde-golden` (serde 1.0.152,
serde_json 1.0.87, Debian's packaged crates): `serde_json::to_string` of the engine's
`TokenUsageRecord` for every record in `tools/serde-golden/inputs.json`. No Rust is
needed here; regenerate the file as `tools/serde-golden/README.md` says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otel_token_usage import TokenUsageRecord
from otel_token_usage.record import SEED_FIELDS, U32_MAX, U64_MAX, encode_line

_ROOT = Path(__file__).resolve().parent.parent
GOLDEN_PATH = _ROOT / "tests" / "data" / "serde_golden.jsonl"
INPUTS_PATH = _ROOT / "tools" / "serde-golden" / "inputs.json"

GOLDEN_BYTES = GOLDEN_PATH.read_bytes()
GOLDEN_LINES: list[bytes] = GOLDEN_BYTES.split(b"\n")[:-1]


def _ids() -> list[str]:
    return [f"line{n}" for n in range(1, len(GOLDEN_LINES) + 1)]


def _seed_values(record: TokenUsageRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in SEED_FIELDS}


def test_golden_file_is_newline_framed_utf8() -> None:
    """The golden file is UTF-8, one line per input record, each ending in a bare `\\n`."""
    GOLDEN_BYTES.decode("utf-8")
    assert GOLDEN_BYTES.endswith(b"\n")
    assert b"\r" not in GOLDEN_BYTES
    assert all(GOLDEN_LINES)
    assert len(GOLDEN_LINES) == len(json.loads(INPUTS_PATH.read_text(encoding="ascii")))


def test_golden_file_matches_current_inputs() -> None:
    """Line N holds exactly the values of input N, so the golden file is not stale."""
    inputs: list[dict[str, Any]] = json.loads(INPUTS_PATH.read_text(encoding="ascii"))
    for line, expected in zip(GOLDEN_LINES, inputs, strict=True):
        parsed: dict[str, Any] = json.loads(line)
        assert list(parsed) == list(SEED_FIELDS)
        assert parsed == expected


def test_golden_inputs_cover_the_escaping_and_width_edges() -> None:
    """The golden strings hold every ASCII control, the JSON specials, DEL and non-ASCII;
    the integers reach each Rust type's maximum."""
    records = [json.loads(line) for line in GOLDEN_LINES]
    text = "".join(r[name] for r in records for name in ("ts", "session_id", "model", "provider"))
    wanted = [chr(c) for c in range(0x20)] + ['"', "\\", "/", "\x7f"]
    wanted += ["é", "中文", "😀", "\u2028", "\u2029", "\ufeff", ".123Z"]
    assert [w for w in wanted if w not in text] == []
    assert any(r["input_tokens"] == U64_MAX for r in records)
    assert any(r["message_count"] == U64_MAX for r in records)
    assert any(r["system_tokens"] == U32_MAX for r in records)
    assert any(r["truncation_occurred"] for r in records)
    assert any(r["ts"] == "2026-06-15T00:00:00Z" and r["session_id"] == "sess-1" for r in records)


@pytest.mark.parametrize("golden", GOLDEN_LINES, ids=_ids())
def test_model_writes_the_serde_json_line(golden: bytes) -> None:
    """Parsing a serde_json line and writing it back in seed mode gives the same text."""
    line = golden.decode("utf-8")
    record = TokenUsageRecord.model_validate_json(line)
    assert record.to_json_line(seed=True) == line


@pytest.mark.parametrize("golden", GOLDEN_LINES, ids=_ids())
def test_encode_line_writes_the_serde_json_bytes(golden: bytes) -> None:
    """The export path's encoder gives serde_json's bytes plus `\\n` for the same values."""
    record = TokenUsageRecord.model_validate_json(golden)
    assert encode_line(_seed_values(record)) == golden + b"\n"
