"""`TokenCounts`: the token kinds, defined once for every reader, summer and recorder
(issue 11, item 5)."""

from __future__ import annotations

from pathlib import Path

from otel_token_usage.analysis import summarize
from otel_token_usage.record import TOKEN_KINDS, TokenCounts, TokenUsageRecord

from .helpers import loaded_after, log_line


def test_token_counts_load_no_pydantic() -> None:
    """The list of token kinds imports without pydantic (the bottom layer)."""
    assert "pydantic" not in loaded_after("from otel_token_usage.record import TokenCounts")


def test_each_kind_is_read_summed_and_reported_by_its_record_field(tmp_path: Path) -> None:
    """Every kind is a record field, read from a line by that name, summed by the report
    and written under that name in its JSON: adding a kind to `TokenCounts` is enough."""
    assert set(TOKEN_KINDS) <= set(TokenUsageRecord.model_fields)
    log = tmp_path / "token-usage.jsonl"
    log.write_text(
        log_line("2026-06-15T10:00:00.000Z", fresh=1, read=2, write=30, write_1h=4, out=50, think=6)
        + log_line("2026-06-15T10:01:00.000Z", fresh=10, read=20, write=3, out=5, think=1)
    )
    expected = TokenCounts(11, 22, 33, 4, 55, 7)
    report = summarize(log)
    assert report.total.tokens == expected
    total = report.as_dict()["total"]
    for kind in TOKEN_KINDS:
        assert total[kind] == getattr(expected, kind)
    assert total["prompt_tokens"] == 66 and total["cache_creation_5m_input_tokens"] == 29


def test_sums_and_derived_kinds() -> None:
    """`of` reads an absent count as 0; `add` and `+` sum every kind; the 5-minute writes
    are the writes not known as 1-hour ones, never negative."""
    line = TokenUsageRecord.model_validate_json(
        log_line("2026-06-15T10:00:00.000Z", fresh=1, read=2, write=3, out=4, think=1)
    )
    one = TokenCounts.of(line)
    assert one == TokenCounts(1, 2, 3, 0, 4, 1)
    both = one + one
    assert both == TokenCounts(2, 4, 6, 0, 8, 2) and one == TokenCounts(1, 2, 3, 0, 4, 1)
    assert both.total_tokens == 2 * (1 + 2 + 3 + 4)
    odd = TokenCounts(cache_creation_input_tokens=5, cache_creation_1h_input_tokens=9)
    assert odd.cache_creation_5m_input_tokens == 0
