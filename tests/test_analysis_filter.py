"""The selection every command applies (`Filters`): times as instants, sessions and models
by id or glob, and bad lines placed when what can be read of them allows."""

from __future__ import annotations

from datetime import UTC, datetime

from otel_token_usage.analysis import Filters
from otel_token_usage.analysis._line import check_line

from .helpers import log_line


def line(ts: str, session: str, model: str = "claude-opus-4-8") -> object:
    found = check_line(log_line(ts, session, model=model, fresh=1).encode())
    assert not isinstance(found, str), found
    return found


def test_times_sessions_and_models_select_by_instant_and_glob() -> None:
    """since is inclusive, until exclusive, both instants; a session or model matches an
    equal id or a glob; an id holding glob characters still matches itself."""
    records = [
        line("2026-06-15T10:00:00.000Z", "ticket-1"),
        line("2026-06-15T12:00:00+02:00", "ticket-2", "gpt-6-luna"),  # 10:00Z
        line("2026-06-15T11:00:00.000Z", "other"),
        line("2026-06-15T11:30:00.000Z", "a[1]"),
    ]
    assert Filters().selected(records) is None
    since = Filters.of(since="2026-06-15T10:00:00Z", until="2026-06-15T11:00:00Z")
    assert since.keep(records) == records[:2]
    assert Filters(sessions=("ticket-*",)).keep(records) == records[:2]
    assert Filters(sessions=("a[1]",)).keep(records) == records[3:]
    assert Filters(models=("claude-*",), sessions=("ticket-?",)).keep(records) == records[:1]
    assert Filters(sessions=("nobody",)).keep(records) == []
    assert Filters(sessions=("*",)).selected(records) is None  # all match: no mask


def test_a_bad_line_counts_unless_what_can_be_read_of_it_is_outside() -> None:
    """`may_hold`: a line outside by its session, model or time is passed over; one that
    cannot be placed (torn, not JSON, a ts that is no time) may belong to the selection."""
    chosen = Filters.of(since=datetime(2026, 6, 15, tzinfo=UTC), sessions=["alpha"])
    assert not chosen.may_hold(b'{"session_id": "beta", "output_tokens": 1.5}')
    assert not chosen.may_hold(b'{"ts": "2026-06-14T10:00:00Z", "session_id": 3}')
    assert chosen.may_hold(b'{"ts": "yesterday", "session_id": "alpha"}')
    assert chosen.may_hold(b'{"ts": "2026-06-16T00:00:00Z", "session_id": 7}')
    assert chosen.may_hold(b'{"ts":"2026-')
    assert chosen.may_hold(b"garbage \xe9")
    assert Filters().may_hold(b'{"session_id": "beta"}')


def test_the_selection_reads_back_as_json_and_words() -> None:
    """JSON has the same keys whatever is set; messages name the options."""
    chosen = Filters.of(since="2026-06-15", sessions=["a"], models=["m*"])
    assert chosen.as_dict() == {
        "since": "2026-06-15T00:00:00.000Z",
        "until": None,
        "session": ["a"],
        "model": ["m*"],
    }
    assert chosen.describe() == "--session a --model m* --since 2026-06-15T00:00:00.000Z"
    assert set(Filters().as_dict()) == set(chosen.as_dict())
