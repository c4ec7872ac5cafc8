"""The one definition of a valid line (`analysis._line`): the whole-block decoder and the
per-line check agree on every line, and both agree with `TokenUsageRecord`, the pydantic
model of the same line, on every field but `ts` (which the model keeps as text)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from otel_token_usage.analysis._line import check_line, decode_block, ts_text, utc_day
from otel_token_usage.record import COUNT_LIMITS, TokenUsageRecord

from .helpers import log_line

BASE: dict[str, Any] = json.loads(log_line("2026-06-15T10:00:00.000Z", fresh=1))
EDGES: list[Any] = [0, 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -1]
ODD: list[Any] = [1.0, True, "7", None, [], 10**30]
EXTENSIONS: dict[str, list[Any]] = {
    "trace_id": ["0" * 32, "A" * 32, "0" * 31, "é" * 32, None, 5],
    "span_id": ["f" * 16, "g" * 16, None],
    "duration_ms": [0, 2**64 - 1, 2**64, None, -3],
    "cache_creation_1h_input_tokens": [0, 2**63, 2**64, None],
}


def variants(rng: random.Random) -> list[bytes]:
    lines = []
    for _ in range(600):
        values = dict(BASE)
        for name in rng.sample(sorted(COUNT_LIMITS), 2):
            values[name] = rng.choice(EDGES + ODD if rng.random() < 0.2 else EDGES)
        for name, choices in EXTENSIONS.items():
            if rng.random() < 0.3:
                values[name] = rng.choice(choices)
        if rng.random() < 0.05:
            del values[rng.choice(sorted(values))]
        lines.append(json.dumps(values, separators=(",", ":")).encode())
    return lines


def pydantic_accepts(raw: bytes) -> bool:
    try:
        TokenUsageRecord.model_validate_json(raw)
    except ValidationError:
        return False
    return True


def test_block_decoder_line_check_and_record_model_agree() -> None:
    """On 600 lines with values at and past every width, the per-line check accepts
    exactly what the pydantic model accepts; every line the block decoder accepts, the
    check accepts with the same values; a block is accepted only when all its lines are."""
    rng = random.Random(12)
    lines = variants(rng)
    accepted = wide = 0
    for raw in lines:
        checked = check_line(raw)
        assert isinstance(checked, str) != pydantic_accepts(raw), raw
        fast = decode_block(raw + b"\n", 1)
        if fast is not None:
            assert not isinstance(checked, str)
            (one,) = fast
            assert [getattr(one, f) for f in one.__struct_fields__] == [
                getattr(checked, f) for f in checked.__struct_fields__
            ]
        accepted += not isinstance(checked, str)
        wide += fast is None and not isinstance(checked, str)
    assert 50 < accepted < 550  # both kinds well represented
    assert wide > 5  # valid lines past the 63-bit range: the block decoder leaves them to the check
    block = b"\n".join(lines[:50]) + b"\n"
    all_valid = all(not isinstance(check_line(raw), str) for raw in lines[:50])
    assert (decode_block(block, 50) is not None) == all_valid


@pytest.mark.parametrize(
    ("ts", "utc"),
    [
        ("2026-06-15T10:00:00.000Z", "2026-06-15T10:00:00.000Z"),
        ("2026-06-15T10:00:00Z", "2026-06-15T10:00:00.000Z"),
        ("2026-06-16T01:30:00.25+02:00", "2026-06-15T23:30:00.250Z"),
        ("2026-06-15t10:00:00.123456z", "2026-06-15T10:00:00.123456Z"),
        ("2026-06-15 10:00:00-00:30", "2026-06-15T10:30:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ("yesterday", None),
        ("2026-06-15", None),
        ("2026-06-15T10:00:00", None),
        ("2026-13-01T10:00:00Z", None),
        ("2026-06-15T24:00:00Z", None),
        ("2026-06-15T23:59:60Z", None),
        ("+12026-06-15T10:00:00Z", None),
        ("9999-12-31T23:59:59-01:00", None),
        ("0001-01-01T00:00:00+00:01", None),
    ],
)
def test_ts_is_a_real_rfc3339_time_in_utc(ts: str, utc: str | None) -> None:
    """A `ts` is valid when it is an RFC 3339 date and time with an offset that exists in
    UTC; both decoders agree, and it is shown in UTC."""
    raw = json.dumps({**BASE, "ts": ts}).encode()
    checked = check_line(raw)
    fast = decode_block(raw + b"\n", 1)
    if utc is None:
        assert isinstance(checked, str) and fast is None
        return
    assert not isinstance(checked, str) and fast is not None
    assert ts_text(checked.ts) == ts_text(fast[0].ts) == utc
    assert utc_day(checked.ts) == utc[:10]


def test_ts_text_keeps_milliseconds_or_finer() -> None:
    """`ts_text` writes the log's own form, with microseconds only when there are some."""
    when = datetime(2026, 6, 15, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=-3)))
    assert ts_text(when) == "2026-06-15T13:00:00.000005Z"
    assert ts_text(datetime(2026, 6, 15, tzinfo=UTC)) == "2026-06-15T00:00:00.000Z"
