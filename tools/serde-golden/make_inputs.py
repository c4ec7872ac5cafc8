"""Write inputs.json: the records whose serde_json lines become tests/data/serde_golden.jsonl.

Only the inputs are made here; the golden lines themselves come from the Rust program
(`cargo run`), never from Python. JSON cannot carry lone surrogates, so none are here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
USIZE_MAX = U64_MAX  # 64-bit targets; main.rs refuses to run elsewhere

ASCII_CONTROLS = "".join(chr(c) for c in range(0x20))
ASCII_SPECIALS = '"\\/\x7f'
NON_ASCII = "é中文😀\u2028\u2029\ufeff"
C1_AND_EDGES = "".join(chr(c) for c in range(0x80, 0xA0)) + "\ufffd\uffff𝄞e\u0301"

SEED_BUDGET: dict[str, Any] = {
    "system_tokens": 5000,
    "summary_tokens": 2000,
    "window_tokens": 3000,
    "total_tokens": 10000,
    "max_context_tokens": 200_000,
    "budget_limit": 180_000,
    "prompt_cached_tool_outputs": 1,
    "prompt_cached_tool_tokens_saved": 42,
    "truncation_occurred": False,
    "segments_removed": 0,
}


def record(**overrides: Any) -> dict[str, Any]:
    """The seed test's record, in Rust field order, with `overrides` applied."""
    base: dict[str, Any] = {
        "ts": "2026-06-15T00:00:00Z",
        "session_id": "sess-1",
        "model": "claude-opus-4-8",
        "provider": "anthropic",
        "message_count": 24,
        "cache_creation_input_tokens": 1500,
        "cache_read_input_tokens": 12_000,
        "input_tokens": 800,
        "output_tokens": 300,
        "thinking_tokens": 7,
        **SEED_BUDGET,
    }
    unknown = set(overrides) - set(base)
    if unknown:
        raise KeyError(f"not record fields: {sorted(unknown)}")
    return base | overrides


def all_counts(u64: int, u32: int, usize: int, truncated: bool) -> dict[str, Any]:
    """Every integer field set to the given value for its Rust type."""
    return {
        "message_count": usize,
        "cache_creation_input_tokens": u64,
        "cache_read_input_tokens": u64,
        "input_tokens": u64,
        "output_tokens": u64,
        "thinking_tokens": u64,
        "system_tokens": u32,
        "summary_tokens": u32,
        "window_tokens": u32,
        "total_tokens": u32,
        "max_context_tokens": u32,
        "budget_limit": u32,
        "prompt_cached_tool_outputs": usize,
        "prompt_cached_tool_tokens_saved": u32,
        "truncation_occurred": truncated,
        "segments_removed": usize,
    }


def inputs() -> list[dict[str, Any]]:
    """All golden inputs, in output order."""
    return [
        # 1. exactly the engine's own unit test
        record(),
        # 2. every integer at its type's maximum
        record(**all_counts(U64_MAX, U32_MAX, USIZE_MAX, truncated=True)),
        # 3. no budget snapshot (Rust `new(.., None, ..)`), empty strings
        record(ts="", session_id="", model="", provider="", **all_counts(0, 0, 0, truncated=False)),
        # 4. all zeros but truncated
        record(**all_counts(0, 0, 0, truncated=True)),
        # 5. values where a float-based encoder would lose digits
        record(
            ts="2026-06-15T00:00:00.123Z",
            **all_counts(2**53 + 1, U32_MAX - 1, 2**63, truncated=False),
        ),
        # 6. every ASCII control char, alone per field and together
        record(
            ts="2026-06-15T00:00:00.123Z",
            session_id=ASCII_CONTROLS,
            model="a\x00b\x1fc",
            provider="\b\t\n\f\r",
        ),
        # 7. quote, backslash, slash, DEL
        record(
            ts="2026-06-15T00:00:00.999Z",
            session_id=ASCII_SPECIALS,
            model='say "hi" \\ then / go',
            provider="\\u0041 is not an escape here",
        ),
        # 8. non-ASCII: Latin, CJK, astral emoji, JS line separators, BOM
        record(
            ts="2026-06-15T00:00:00.001Z",
            session_id=NON_ASCII,
            model="claude-é",
            provider="\u2028\u2029",
        ),
        # 9. C1 controls, U+FFFD/U+FFFF, another astral char, combining mark
        record(
            ts="2026-06-15T00:00:00.000Z",
            session_id=C1_AND_EDGES,
            model="\ufeffmodel",
            provider="😀",
        ),
        # 10. everything at once
        record(
            ts="2026-06-15T00:00:00.123Z",
            session_id=ASCII_CONTROLS + ASCII_SPECIALS + NON_ASCII + C1_AND_EDGES,
            model=NON_ASCII + ASCII_CONTROLS,
            provider=ASCII_SPECIALS + NON_ASCII,
            **all_counts(U64_MAX, U32_MAX, USIZE_MAX, truncated=True),
        ),
    ]


def main() -> None:
    """Write inputs.json next to this script (ASCII-escaped, one record per line)."""
    lines = ",\n".join("  " + json.dumps(r, ensure_ascii=True) for r in inputs())
    Path(__file__).with_name("inputs.json").write_text(f"[\n{lines}\n]\n", encoding="ascii")


if __name__ == "__main__":
    main()
