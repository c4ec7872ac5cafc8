"""The cache timeline: per call, how much of the prompt came from the cache, and why the
cold rounds were cold.

A round is cold when its hit ratio (cache reads / prompt) is under the threshold. The
first reason that applies, in this order, is given:

1. `first_call` - the session's first call: nothing can be cached yet;
2. `compression` - segments were removed, the window was truncated, or the summary
   changed since the previous call: the prompt prefix was rewritten;
3. `ttl_expired` - the gap since the previous call exceeds the TTL in force: one hour once
   the session has written 1-hour cache entries, else five minutes (or the given TTL);
4. `prefix_change` - anything else that made the cached prefix miss.

Rows stream out in call order per session. A cold row is held back until the session is
warm again, so it can say how many rounds that took; memory is bounded by the longest run
of cold rounds, never by the session's length otherwise. `timeline_items` reads logs one
at a time and, at the end of each, releases the rows its sessions still hold back and
gives their summaries, so that a session's summary comes right after its rows (a
sessions tree keeps each session in a log of its own). A session whose lines go on in a
later log goes on there with the same numbering, and its summary comes again, updated;
only the cold rounds held back at the end of the first log are taken as never warm
again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import TokenCounts

from ._filter import Filters
from ._line import ts_text, utc_day
from ._reader import BadLines, Call, LogFile, read_calls

__all__ = [
    "DEFAULT_THRESHOLD",
    "REASONS",
    "TTL_1H_S",
    "TTL_5M_S",
    "CacheTimeline",
    "SessionCache",
    "TimelineRow",
    "duration_text",
    "timeline_items",
]

TTL_5M_S = 300
TTL_1H_S = 3600
DEFAULT_THRESHOLD = 0.5
REASONS = ("first_call", "compression", "ttl_expired", "prefix_change")


@dataclass(slots=True)
class TimelineRow:
    """One call on a session's cache timeline.

    `index` is 1-based within the session; `gap_s` is the time since the previous call
    ended (None for the first call). `reason` is None for warm
    rounds. For cold rounds, `rounds_to_warm` is how many calls later the session was warm
    again (None if it never was), and `extra_cost_usd` what the round cost beyond the same
    call with the previous call's prompt read from the cache (None for `first_call` or
    without a known price).
    """

    session_id: str
    index: int
    ts: datetime
    gap_s: float | None
    model: str
    tokens: TokenCounts
    cache_hit_ratio: float | None
    cold: bool
    reason: str | None
    ttl_s: int
    rounds_to_warm: int | None = None
    extra_cost_usd: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (costs as float USD, `ts` as UTC RFC 3339 text)."""
        return {
            "session_id": self.session_id,
            "index": self.index,
            "ts": ts_text(self.ts),
            "gap_s": self.gap_s,
            "model": self.model,
            **self.tokens.as_dict(),
            "cache_hit_ratio": self.cache_hit_ratio,
            "cold": self.cold,
            "reason": self.reason,
            "ttl_s": self.ttl_s,
            "rounds_to_warm": self.rounds_to_warm,
            "extra_cost_usd": None if self.extra_cost_usd is None else float(self.extra_cost_usd),
        }


@dataclass
class SessionCache:
    """A session's cache summary: calls, cold rounds by reason, how long it took to get
    warm again, what the cold rounds cost extra (those with a known price; the others are
    counted in `unpriced_cold_rounds`), and the TTL the reasons were worked out with."""

    session_id: str
    calls: int = 0
    cold_rounds: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    warm_again_rounds: int = 0
    warm_again_count: int = 0
    never_warm_again: int = 0
    extra_cost: Decimal = Decimal(0)
    costed_cold_rounds: int = 0
    unpriced_cold_rounds: int = 0
    wrote_1h: bool = False
    ttl_given: bool = False
    first_ttl_s: int | None = None
    last_ttl_s: int | None = None

    @property
    def ttl_label(self) -> str:
        """The TTL the cold rounds were judged with: `TTL 30m (--ttl)` when given,
        else `TTL 5m`, `TTL 1h`, or `TTL 5m, then 1h` when the session started writing
        1-hour cache entries on the way."""
        first, last = self.first_ttl_s, self.last_ttl_s
        if first is None or last is None:
            return "TTL -"
        if self.ttl_given:
            return f"TTL {duration_text(last)} (--ttl)"
        if first != last:
            return f"TTL {duration_text(first)}, then {duration_text(last)}"
        return f"TTL {duration_text(last)}"

    @property
    def mean_rounds_to_warm(self) -> float | None:
        """Average of `rounds_to_warm` over the cold rounds that got warm again."""
        count = self.warm_again_count
        return self.warm_again_rounds / count if count else None

    @property
    def extra_cost_usd(self) -> Decimal | None:
        """Extra cost of the cold rounds other than the first call that have a known
        price; None when none of them has one."""
        none_priced = self.unpriced_cold_rounds and self.unpriced_cold_rounds == (
            self.costed_cold_rounds
        )
        return None if none_priced else self.extra_cost

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        extra = self.extra_cost_usd
        return {
            "session_id": self.session_id,
            "calls": self.calls,
            "cold_rounds": self.cold_rounds,
            "reasons": dict(self.reasons),
            "mean_rounds_to_warm": self.mean_rounds_to_warm,
            "never_warm_again": self.never_warm_again,
            "extra_cost_usd": None if extra is None else float(extra),
            "unpriced_cold_rounds": self.unpriced_cold_rounds,
            "ttl_1h": self.wrote_1h,
            "ttl_s": self.last_ttl_s,
            "ttl": self.ttl_label,
        }


@dataclass
class _State:
    summary: SessionCache
    index: int = 0
    last_ts: datetime | None = None
    last_summary_tokens: int | None = None
    last_prompt: int = 0
    pending: list[TimelineRow] = field(default_factory=list)


class CacheTimeline:
    """Turns calls (in file order) into `TimelineRow`s and per-session `SessionCache`
    summaries. `ttl_s` forces one TTL for every session; `threshold` is the hit ratio under
    which a round counts as cold."""

    def __init__(
        self,
        *,
        ttl_s: int | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        prices: PriceBook | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.threshold = threshold
        self.prices = prices if prices is not None else PriceBook()
        self._states: dict[str, _State] = {}

    @property
    def sessions(self) -> list[SessionCache]:
        """The summary of every session seen so far, in order of first appearance."""
        return [state.summary for state in self._states.values()]

    def summary(self, session_id: str) -> SessionCache:
        """The summary of a session seen so far."""
        return self._states[session_id].summary

    def rows(self, calls: Iterable[Call]) -> Iterator[TimelineRow]:
        """Stream the timeline rows of `calls`; held-back cold rows come out when their
        session is warm again, or at the end."""
        for call in calls:
            yield from self.feed(call)
        yield from self.flush()

    def feed(self, call: Call) -> list[TimelineRow]:
        """Add one call; returns the rows that are complete now."""
        state = self._states.get(call.session_id)
        if state is None:
            summary = SessionCache(call.session_id, ttl_given=self.ttl_s is not None)
            state = self._states[call.session_id] = _State(summary)
        row = self._row(state, call)
        summary = state.summary
        summary.calls += 1
        if row.cold:
            summary.cold_rounds += 1
            summary.reasons[row.reason or "prefix_change"] += 1
            state.pending.append(row)
            return []
        if not state.pending:
            return [row]
        ready = state.pending
        state.pending = []
        if row.cache_hit_ratio is None:
            state.pending = [*ready, row]
            return []
        for held in ready:
            if held.cold:
                held.rounds_to_warm = row.index - held.index
                summary.warm_again_rounds += held.rounds_to_warm
                summary.warm_again_count += 1
        return [*ready, row]

    def flush(self) -> list[TimelineRow]:
        """Release every held-back row (their sessions never got warm again)."""
        out: list[TimelineRow] = []
        for session_id in self._states:
            out.extend(self.finish(session_id))
        return out

    def finish(self, session_id: str) -> list[TimelineRow]:
        """Release the rows `session_id` holds back (it never got warm again); its
        summary is then complete, unless more of its calls come."""
        state = self._states.get(session_id)
        if state is None:
            return []
        state.summary.never_warm_again += sum(1 for row in state.pending if row.cold)
        out = state.pending
        state.pending = []
        return out

    def _row(self, state: _State, call: Call) -> TimelineRow:
        state.index += 1
        gap = None
        if state.last_ts is not None:
            gap = round((call.ts - state.last_ts).total_seconds(), 3)
        summary = state.summary
        ttl = self.ttl_s if self.ttl_s is not None else TTL_1H_S if summary.wrote_1h else TTL_5M_S
        if summary.first_ttl_s is None:
            summary.first_ttl_s = ttl
        summary.last_ttl_s = ttl
        tokens = call.tokens
        prompt = tokens.prompt_tokens
        ratio = tokens.cache_read_input_tokens / prompt if prompt else None
        cold = ratio is not None and ratio < self.threshold
        reason = None
        if cold:
            if state.index == 1:
                reason = "first_call"
            elif (
                call.segments_removed > 0
                or call.truncation_occurred
                or call.summary_tokens != state.last_summary_tokens
            ):
                reason = "compression"
            elif gap is not None and gap > ttl:
                reason = "ttl_expired"
            else:
                reason = "prefix_change"
        row = TimelineRow(
            call.session_id,
            state.index,
            call.ts,
            gap,
            call.model,
            tokens,
            ratio,
            cold,
            reason,
            ttl,
        )
        if cold and reason != "first_call":
            row.extra_cost_usd = self._extra_cost(call, state.last_prompt)
            summary.costed_cold_rounds += 1
            if row.extra_cost_usd is None:
                summary.unpriced_cold_rounds += 1
            else:
                summary.extra_cost += row.extra_cost_usd
        state.last_ts = call.ts
        state.last_summary_tokens = call.summary_tokens
        state.last_prompt = prompt
        if tokens.cache_creation_1h_input_tokens > 0:
            summary.wrote_1h = True
        return row

    def _extra_cost(self, call: Call, previous_prompt: int) -> Decimal | None:
        price = self.prices.price(call.provider, call.model, utc_day(call.ts))
        if price is None:
            return None
        actual = call.tokens
        tier = price.tier_of(actual.prompt_tokens)
        # Warm, the part of the prompt the previous call already sent would have been read
        # from the cache instead of written to it (first) or sent fresh.
        read = max(actual.cache_read_input_tokens, min(actual.prompt_tokens, previous_prompt))
        moved = read - actual.cache_read_input_tokens
        from_writes = min(moved, actual.cache_creation_input_tokens)
        writes = actual.cache_creation_input_tokens - from_writes
        warm = replace(
            actual,
            input_tokens=actual.input_tokens - (moved - from_writes),
            cache_read_input_tokens=read,
            cache_creation_input_tokens=writes,
            cache_creation_1h_input_tokens=min(actual.cache_creation_1h_input_tokens, writes),
        )
        return price.cost(tier, actual, 1) - price.cost(tier, warm, 1)


def duration_text(seconds: int) -> str:
    """A duration as `1h30m`, `5m`, `90s` style text."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value
    ]
    return "".join(parts) or "0s"


def timeline_items(
    logs: Iterable[LogFile],
    timeline: CacheTimeline,
    bad: BadLines,
    *,
    filters: Filters | None = None,
    on_block: Callable[[int], None] | None = None,
) -> Iterator[TimelineRow | SessionCache]:
    """The timeline of the calls `filters` select in `logs`, a log at a time: its rows,
    then, for each session that log held, the rows still held back and the session's
    summary (see the module docstring). Skipped lines are counted in `bad`; `on_block`
    is told the size of each block read."""
    chosen = filters if filters is not None else Filters()
    for log in logs:
        held: dict[str, None] = {}
        for call in read_calls([log], bad, filters=chosen, on_block=on_block):
            held[call.session_id] = None
            yield from timeline.feed(call)
        for session_id in held:
            yield from timeline.finish(session_id)
            yield timeline.summary(session_id)
