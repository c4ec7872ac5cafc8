"""The cache timeline: cold rounds, their reasons in order of precedence, the TTL in force,
rounds to warm again, and the extra cost of cold rounds (checked against genai-prices)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
from genai_prices import Usage

from otel_token_usage.analysis import CacheTimeline, TimelineRow, find_logs, read_calls

from .helpers import log_line

OPUS = "claude-opus-4-8"


def rec(
    ts: str,
    session: str,
    *,
    fresh: int,
    read: int = 0,
    write: int = 0,
    write_1h: int | None = None,
    summary: int = 0,
    segments: int = 0,
    truncated: bool = False,
) -> str:
    return log_line(
        ts,
        session,
        model=OPUS,
        fresh=fresh,
        read=read,
        write=write,
        write_1h=write_1h,
        summary=summary,
        segments=segments,
        truncated=truncated,
    )


def day(clock: str) -> str:
    return f"2026-06-15T{clock}.000Z"


# A 5-minute-TTL session: first call, warm, pause over the TTL, a prefix change, warm,
# a compression, warm, then a pause over the TTL that still hits (so: warm, no reason).
FIVE_MINUTES = [
    rec(day("10:00:00"), "t", fresh=100, write=5000),
    rec(day("10:01:00"), "t", fresh=100, read=5000, write=200),
    rec(day("10:08:00"), "t", fresh=100, write=5300),
    rec(day("10:09:00"), "t", fresh=100, read=1000, write=4400),
    rec(day("10:10:00"), "t", fresh=100, read=5500, write=100),
    rec(day("10:11:00"), "t", fresh=100, write=3000, summary=800, segments=2),
    rec(day("10:12:00"), "t", fresh=100, read=3000, summary=800),
    rec(day("10:20:00"), "t", fresh=100, read=3000, summary=800),
]
# A session that writes 1-hour entries: a 10-minute pause stays within its TTL.
ONE_HOUR = [
    rec(day("09:00:00"), "h", fresh=10, write=1000, write_1h=1000),
    rec(day("09:10:00"), "h", fresh=10, read=1000),
    rec(day("09:20:00"), "h", fresh=10, write=1010, write_1h=1010),
    rec(day("10:30:00"), "h", fresh=10, write=1020, write_1h=1020),
]


def timeline(
    tmp_path: Path, lines: list[str], *, ttl_s: int | None = None, threshold: float = 0.5
) -> tuple[CacheTimeline, list[TimelineRow]]:
    log = tmp_path / "token-usage.jsonl"
    log.write_text("".join(lines))
    line = CacheTimeline(ttl_s=ttl_s, threshold=threshold)
    return line, list(line.rows(read_calls(find_logs(log))))


def test_reasons_follow_the_precedence(tmp_path: Path) -> None:
    """first_call, ttl_expired after a pause over 5 minutes, prefix_change otherwise,
    compression when segments were removed; warm rounds have no reason."""
    line, rows = timeline(tmp_path, FIVE_MINUTES)
    assert [row.index for row in rows] == list(range(1, 9))
    assert [row.reason for row in rows] == [
        "first_call",
        None,
        "ttl_expired",
        "prefix_change",
        None,
        "compression",
        None,
        None,
    ]
    assert [row.cold for row in rows] == [True, False, True, True, False, True, False, False]
    assert [row.gap_s for row in rows] == [None, 60.0, 420.0, 60.0, 60.0, 60.0, 60.0, 480.0]
    assert rows[3].cache_hit_ratio == 1000 / 5500
    assert {row.ttl_s for row in rows} == {300}
    (session,) = line.sessions
    assert session.reasons == {
        "first_call": 1,
        "compression": 1,
        "ttl_expired": 1,
        "prefix_change": 1,
    }
    assert (session.calls, session.cold_rounds, session.never_warm_again) == (8, 4, 0)


def test_compression_wins_over_an_expired_ttl_and_covers_truncation(tmp_path: Path) -> None:
    """A cold round after a long pause that also removed segments, truncated the window or
    changed the summary is a compression."""
    lines = [
        rec(day("10:00:00"), "c", fresh=10, write=1000),
        rec(day("11:00:00"), "c", fresh=10, write=1000, segments=1),
        rec(day("11:01:00"), "c", fresh=10, write=1000, truncated=True),
        rec(day("11:02:00"), "c", fresh=10, write=1000, summary=50),
        rec(day("11:03:00"), "c", fresh=10, write=1000, summary=50),
    ]
    _line, rows = timeline(tmp_path, lines)
    assert [row.reason for row in rows] == [
        "first_call",
        "compression",
        "compression",
        "compression",
        "prefix_change",
    ]


def test_rounds_to_warm_again(tmp_path: Path) -> None:
    """Each cold round says how many calls later the session was warm again."""
    _line, rows = timeline(tmp_path, FIVE_MINUTES)
    assert [row.rounds_to_warm for row in rows] == [1, None, 2, 1, None, 1, None, None]


def test_one_hour_writes_switch_the_ttl_and_override_wins(tmp_path: Path) -> None:
    """After 1-hour writes a 10-minute pause is not an expiry (prefix_change) but 70 minutes
    is; `ttl_s` forces a TTL; a session that ends cold never gets warm again."""
    line, rows = timeline(tmp_path, ONE_HOUR)
    assert [row.ttl_s for row in rows] == [300, 3600, 3600, 3600]
    assert [row.reason for row in rows] == ["first_call", None, "prefix_change", "ttl_expired"]
    assert [row.rounds_to_warm for row in rows] == [1, None, None, None]
    assert line.sessions[0].never_warm_again == 2
    assert line.sessions[0].wrote_1h
    _line, forced = timeline(tmp_path, ONE_HOUR, ttl_s=300)
    assert [row.reason for row in forced] == ["first_call", None, "ttl_expired", "ttl_expired"]


def test_threshold_decides_what_is_cold(tmp_path: Path) -> None:
    """A round hitting 94% is warm at the default 0.5 and cold at 0.95."""
    _line, rows = timeline(tmp_path, FIVE_MINUTES[:2], threshold=0.95)
    assert rows[1].cold and rows[1].reason == "prefix_change"


def library(**usage: int) -> Decimal:
    when = datetime(2026, 6, 15, 12, tzinfo=UTC)
    return genai_prices.calc_price(
        Usage(**usage), OPUS, provider_id="anthropic", genai_request_timestamp=when
    ).total_price


def test_cold_round_extra_cost(tmp_path: Path) -> None:
    """A cold round costs what it cost minus the same call with the previous prompt read
    from the cache; the first call has no extra cost."""
    line, rows = timeline(tmp_path, FIVE_MINUTES)
    # Round 3: prompt 5400, previous prompt 5300 -> 5300 of its written tokens would
    # have been reads: (100*5 + 5300*6.25)/1e6 - (100*5 + 5300*0.5)/1e6.
    assert rows[2].extra_cost_usd == Decimal("0.030475")
    assert rows[2].extra_cost_usd == (
        library(input_tokens=5400, cache_write_tokens=5300)
        - library(input_tokens=5400, cache_read_tokens=5300)
    )
    # Round 4: read 1000 of prompt 5500, previous prompt 5400: 4400 more would be read.
    assert rows[3].extra_cost_usd == (
        library(input_tokens=5500, cache_read_tokens=1000, cache_write_tokens=4400)
        - library(input_tokens=5500, cache_read_tokens=5400, cache_write_tokens=0)
    )
    assert rows[0].extra_cost_usd is None
    assert line.sessions[0].extra_cost_usd == sum(
        (row.extra_cost_usd for row in rows[1:] if row.extra_cost_usd), Decimal(0)
    )
    assert rows[2].as_dict()["extra_cost_usd"] == 0.030475
