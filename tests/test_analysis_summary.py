"""`summarize` and prices: per-session/model/day numbers worked out by hand, and costs
checked against genai-prices' own `calc_price`."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import Usage, data_snapshot

from otel_token_usage.analysis import AnalysisError, summarize, ts_text
from otel_token_usage.pricing import PriceBook, PriceFileError

from .helpers import log_line

OPUS = "claude-opus-4-8"
SONNET = "claude-sonnet-4-5"


def rec(
    ts: str,
    session: str,
    model: str,
    *,
    fresh: int,
    read: int = 0,
    write: int = 0,
    write_1h: int | None = None,
    out: int = 0,
    think: int = 0,
) -> str:
    return log_line(
        ts,
        session,
        model=model,
        fresh=fresh,
        read=read,
        write=write,
        write_1h=write_1h,
        out=out,
        think=think,
    )


# Session a: Opus 4.8, 5-minute writes, one garbage line.
A = [
    ("2026-06-15T10:00:00.000Z", {"fresh": 100, "write": 2000, "out": 300, "think": 100}),
    ("2026-06-15T10:01:00.000Z", {"fresh": 50, "read": 2000, "write": 500, "out": 200}),
    (
        "2026-06-15T10:02:00.000Z",
        {"fresh": 20, "read": 2500, "write": 100, "out": 100, "think": 50},
    ),
]
# Session b: Sonnet 4.5, 1-hour writes, the next day, a torn last line.
B = [
    ("2026-06-16T09:00:00.000Z", {"fresh": 10, "write": 1000, "write_1h": 1000, "out": 100}),
    ("2026-06-16T09:30:00.000Z", {"fresh": 10, "read": 1000, "out": 100}),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "sessions"
    (base / "a").mkdir(parents=True)
    (base / "b").mkdir()
    lines_a = [rec(ts, "a", OPUS, **kw) for ts, kw in A]
    lines_a.insert(1, "garbage\n")
    (base / "a" / "token-usage.jsonl").write_text("".join(lines_a))
    lines_b = [rec(ts, "b", SONNET, **kw) for ts, kw in B]
    (base / "b" / "token-usage.jsonl").write_text("".join(lines_b) + '{"ts":"2026-06')
    return base


def library_cost(
    model: str,
    ts: str,
    *,
    fresh: int,
    read: int = 0,
    write: int = 0,
    write_1h: int | None = None,
    out: int = 0,
    think: int = 0,
) -> Decimal:
    """One call priced by genai-prices itself (its input_tokens are inclusive)."""
    del think
    usage = Usage(
        input_tokens=fresh + read + write,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h or 0,
        output_tokens=out,
    )
    when = datetime.fromisoformat(ts).astimezone(UTC)
    return genai_prices.calc_price(
        usage, model, provider_id="anthropic", genai_request_timestamp=when
    ).total_price


def test_per_session_numbers_match_the_hand_computation(root: Path) -> None:
    """Calls, token kinds, prompt size, hit ratio, payback, thinking share, cost and the
    saving versus no cache, per session and in total; bad lines charged to their session."""
    report = summarize(root)
    a, b = report.groups
    assert (a.session_id, b.session_id) == ("a", "b")
    assert (a.calls, a.tokens.input_tokens, a.tokens.cache_read_input_tokens) == (3, 170, 4500)
    tokens = a.tokens
    assert (tokens.cache_creation_input_tokens, tokens.output_tokens) == (2600, 600)
    assert (tokens.thinking_tokens, tokens.prompt_tokens) == (150, 7270)
    assert a.cache_hit_ratio == pytest.approx(4500 / 7270)
    assert a.cache_write_payback == pytest.approx(4500 / 2600)
    assert a.thinking_share == pytest.approx(0.25)
    # Opus 4.8 per MTok: input 5, cache read 0.5, 5m write 6.25, output 25.
    assert a.cost_usd == Decimal("0.03435")  # (170*5 + 4500*0.5 + 2600*6.25 + 600*25) / 1e6
    assert a.no_cache_cost_usd == Decimal("0.05135")  # (7270*5 + 600*25) / 1e6
    assert a.saving_usd == Decimal("0.01700")
    # Sonnet 4.5 per MTok: input 3, cache read 0.3, 1h write 6, output 15: caching cost more.
    assert b.cost_usd == Decimal("0.00936")  # (20*3 + 1000*0.3 + 1000*6 + 200*15) / 1e6
    assert b.no_cache_cost_usd == Decimal("0.00906")  # (2020*3 + 200*15) / 1e6
    assert b.saving_usd is not None and b.saving_usd < 0
    assert b.tokens.cache_creation_1h_input_tokens == 1000
    assert (a.bad_lines, b.bad_lines, report.total.bad_lines, report.bad.count) == (1, 1, 2, 2)
    total = report.total
    assert total.session_id is None
    assert (total.calls, total.tokens.prompt_tokens) == (5, 7270 + 2020)
    assert total.cost_usd == Decimal("0.03435") + Decimal("0.00936")
    assert a.first_ts is not None and a.last_ts is not None
    assert (ts_text(a.first_ts), ts_text(a.last_ts)) == (A[0][0], A[-1][0])
    assert report.unknown_prices == {}


def test_costs_equal_genai_prices_call_by_call(root: Path) -> None:
    """The total cost is the sum of genai-prices' `calc_price` over the calls, with 1-hour
    writes at their own price."""
    expected = sum(
        (library_cost(OPUS, ts, **kw) for ts, kw in A),
        Decimal(0),
    ) + sum((library_cost(SONNET, ts, **kw) for ts, kw in B), Decimal(0))
    assert summarize(root).total.cost_usd == expected
    five_minute = library_cost(SONNET, B[0][0], fresh=10, write=1000, out=100)
    one_hour = library_cost(SONNET, B[0][0], fresh=10, write=1000, write_1h=1000, out=100)
    assert one_hour - five_minute == Decimal("0.00225")  # 1000 * (6 - 3.75) / 1e6


def test_a_call_over_the_tier_boundary_is_billed_at_the_tier_price(tmp_path: Path) -> None:
    """Sonnet 4.5 bills a prompt over 200k tokens at its higher tier, call by call."""
    calls = [
        ("2026-06-15T00:00:00.000Z", {"fresh": 1000, "read": 250_000, "out": 100}),
        ("2026-06-15T00:01:00.000Z", {"fresh": 1000, "read": 1000, "out": 100}),
    ]
    log = tmp_path / "token-usage.jsonl"
    log.write_text("".join(rec(ts, "t", SONNET, **kw) for ts, kw in calls))
    report = summarize(log)
    # (1000*6 + 250000*0.6 + 100*22.5)/1e6 + (1000*3 + 1000*0.3 + 100*15)/1e6
    assert report.total.cost_usd == Decimal("0.15825") + Decimal("0.0048")
    assert report.total.cost_usd == sum(
        (library_cost(SONNET, ts, **kw) for ts, kw in calls),
        Decimal(0),
    )


def test_group_by_model_and_by_day_and_a_time_range(root: Path) -> None:
    """`by` regroups the same calls; `since`/`until` keep calls in [since, until)."""
    by_model = summarize(root, by="model")
    assert [(g.provider, g.model, g.calls) for g in by_model.groups] == [
        ("anthropic", OPUS, 3),
        ("anthropic", SONNET, 2),
    ]
    assert by_model.total.calls == 5 and by_model.total.bad_lines == 2
    by_day = summarize(root, by="day")
    assert [(g.day, g.calls, len(g.sessions)) for g in by_day.groups] == [
        ("2026-06-15", 3, 1),
        ("2026-06-16", 2, 1),
    ]
    ranged = summarize(root, since="2026-06-15T10:01:00.000Z", until="2026-06-16T00:00:00.000Z")
    assert [(g.session_id, g.calls) for g in ranged.groups if g.calls] == [("a", 2)]
    assert ranged.total.tokens.input_tokens == 70
    keys = list(by_model.as_dict())
    assert keys[:4] == ["schema_version", "command", "filters", "input"]
    assert keys[4:] == ["by", "top", "groups", "omitted_groups", "total"]


def test_worker_processes_give_the_same_report(root: Path) -> None:
    """Folding files in two worker processes changes nothing in the result."""
    assert summarize(root, jobs=2).as_dict() == summarize(root, jobs=1).as_dict()


def test_an_unknown_model_leaves_the_priced_subtotal(tmp_path: Path) -> None:
    """A model no price source knows gets `cost_usd` None; a total that holds it keeps the
    cost of the priced calls and says how many calls and tokens have no price (issue 12,
    item 4)."""
    (tmp_path / "k").mkdir()
    (tmp_path / "u").mkdir()
    (tmp_path / "k" / "token-usage.jsonl").write_text(rec(A[0][0], "k", OPUS, fresh=1000))
    (tmp_path / "u" / "token-usage.jsonl").write_text(
        rec(A[0][0], "u", "claude-nonexistent-9", fresh=1000)
    )
    report = summarize(tmp_path)
    known, unknown = report.groups
    assert known.cost_usd == Decimal("0.005")
    assert unknown.cost_usd is None and unknown.as_dict()["cost_usd"] is None
    assert (unknown.unpriced_calls, unknown.unpriced_tokens) == (1, 1000)
    total = report.total
    assert total.cost_usd == Decimal("0.005") and total.as_dict()["cost_usd"] == 0.005
    assert (total.unpriced_calls, total.unpriced_tokens) == (1, 1000)
    assert report.unknown_prices == {("anthropic", "claude-nonexistent-9"): 1}


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_price_file_overrides_and_adds_models(tmp_path: Path, suffix: str) -> None:
    """Entries of a TOML or JSON price file win over genai-prices and can add models by a
    glob; missing cache prices bill as input."""
    entries = [
        {
            "model": OPUS,
            "provider": "anthropic",
            "input_mtok": 1,
            "output_mtok": 2,
            "cache_read_mtok": 0.1,
            "cache_write_mtok": 1.5,
            "cache_write_1h_mtok": 3,
        },
        {"model": "in-house-*", "input_mtok": 4, "output_mtok": 8},
    ]
    prices = tmp_path / f"prices{suffix}"
    if suffix == ".json":
        prices.write_text(json.dumps({"models": entries}))
    else:
        prices.write_text(
            '[[models]]\nmodel = "claude-opus-4-8"\nprovider = "anthropic"\ninput_mtok = 1\n'
            "output_mtok = 2\ncache_read_mtok = 0.1\ncache_write_mtok = 1.5\n"
            'cache_write_1h_mtok = 3\n\n[[models]]\nmodel = "in-house-*"\ninput_mtok = 4\n'
            "output_mtok = 8\n"
        )
    log = tmp_path / "token-usage.jsonl"
    log.write_text(
        rec(A[0][0], "p", OPUS, fresh=1000, read=1000, write=2000, write_1h=1000, out=1000)
        + rec(A[1][0], "p", "in-house-7b", fresh=1000, read=1000, write=1000, out=1000)
    )
    report = summarize(log, prices=PriceBook.from_file(prices), by="model")
    opus, house = report.groups
    # (1000*1 + 1000*0.1 + 1000*1.5 + 1000*3 + 1000*2) / 1e6
    assert opus.cost_usd == Decimal("0.0076")
    # No cache prices: all 3000 prompt tokens at 4, output at 8.
    assert house.cost_usd == Decimal("0.020")
    assert house.saving_usd == 0


def test_a_wrong_price_file_is_one_price_file_error(tmp_path: Path) -> None:
    """A price file with a typo'd key or a negative price is refused with a one-line reason."""
    bad = tmp_path / "prices.toml"
    bad.write_text('[[models]]\nmodel = "x"\ninput_mtok = 1\noutput_mtk = 2\n')
    with pytest.raises(PriceFileError, match="not a valid price file") as caught:
        PriceBook.from_file(bad)
    assert "\n" not in str(caught.value)
    bad.write_text('[[models]]\nmodel = "x"\ninput_mtok = -1\noutput_mtok = 2\n')
    with pytest.raises(PriceFileError, match="input_mtok"):
        PriceBook.from_file(bad)
    with pytest.raises(PriceFileError, match="missing"):
        PriceBook.from_file(tmp_path / "missing.toml")


def test_prices_never_start_the_network_updater(root: Path) -> None:
    """Pricing uses the bundled data only: no updater thread, no fetched snapshot."""
    summarize(root)
    assert not any(t.name == "genai_prices:update" for t in threading.enumerate())
    assert data_snapshot.get_snapshot().from_auto_update is False


def test_empty_and_garbage_inputs_are_analysis_errors(tmp_path: Path) -> None:
    """An empty log and a file with no record in it are refused with a one-line reason."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(AnalysisError, match="empty"):
        summarize(empty)
    junk = tmp_path / "junk.txt"
    junk.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(AnalysisError, match="not a session log"):
        summarize(junk)


def test_mixed_blocks_sum_like_the_line_by_line_path(tmp_path: Path) -> None:
    """A block mixing sessions, models, days and price tiers, cut by a time range, sums to
    what the line-by-line path (taken when the block holds a bad line) gives, and its cost
    is genai-prices' call by call."""
    calls = []
    for i in range(60):
        hour = 22 + i // 20  # 22:00, 23:00, then past midnight
        ts = f"2026-06-{15 + hour // 24}T{hour % 24:02d}:{i % 60:02d}:00.000Z"
        model = SONNET if i % 3 else OPUS
        read = 199_500 + 100 * i if i % 2 else 1000 * i
        calls.append(
            (ts, f"s{i % 2}", model, {"fresh": 300, "read": read, "write": 50 * i, "out": 10 + i})
        )
    text = "".join(rec(ts, session, model, **kw) for ts, session, model, kw in calls)
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    fast.mkdir()
    slow.mkdir()
    (fast / "token-usage.jsonl").write_text(text)
    (slow / "token-usage.jsonl").write_text(text + "torn{")
    since, until = "2026-06-15T22:05:00.000Z", "2026-06-16T00:30:00.000Z"
    for by in ("session", "model", "day"):
        quick = summarize(fast, by=by, since=since, until=until).as_dict()
        careful = summarize(slow, by=by, since=since, until=until).as_dict()
        careful["total"]["bad_lines"] = 0
        for group in careful["groups"]:
            group["bad_lines"] = 0
        assert (quick["groups"], quick["total"]) == (careful["groups"], careful["total"])
    kept = [(ts, model, kw) for ts, _session, model, kw in calls if since <= ts < until]
    expected = sum((library_cost(model, ts, **kw) for ts, model, kw in kept), Decimal(0))
    report = summarize(fast, since=since, until=until)
    assert report.total.calls == len(kept)
    assert report.total.cost_usd == expected
