"""`summarize`: per-session (or per-model, per-day) usage, cache effectiveness and cost.

Files are folded independently (in worker processes when the input is large, see
`_parallel`), each into token sums per (session, provider, model, day, price tier); the
sums are then merged and priced here, each group once. Memory grows with the number of
groups, never with the number of lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import TokenCounts

from ._filter import Filters
from ._fold import GroupKey, Sums, merge_groups
from ._line import moment, ts_text
from ._output import envelope
from ._parallel import fold_all
from ._progress import Progress
from ._reader import AnalysisError, BadLines, LogFile, display_name, find_logs

__all__ = ["GroupBy", "Report", "Summary", "nothing_read", "summarize"]

GroupBy = Literal["session", "model", "day"]


@dataclass
class Summary:
    """Usage of a group of calls (a session, a model, a day, or everything).

    `session_id`/`provider`/`model`/`day` are set when the group is one of those, else
    None. Costs are those of the calls with a known price: a call without one adds to
    `unpriced_calls` and `unpriced_tokens` instead, so one unknown model never hides the
    cost of the others. Token sums are exact integers, however large.
    """

    session_id: str | None = None
    provider: str | None = None
    model: str | None = None
    day: str | None = None
    calls: int = 0
    tokens: TokenCounts = field(default_factory=TokenCounts)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    models: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    cost: Decimal = Decimal(0)
    no_cache_cost: Decimal = Decimal(0)
    unpriced_calls: int = 0
    unpriced_tokens: int = 0
    bad_lines: int = 0

    @property
    def cache_hit_ratio(self) -> float | None:
        """Cache reads / prompt tokens (None without prompt tokens)."""
        prompt = self.tokens.prompt_tokens
        return self.tokens.cache_read_input_tokens / prompt if prompt else None

    @property
    def cache_write_payback(self) -> float | None:
        """Tokens read from the cache per token written to it (None without writes)."""
        written = self.tokens.cache_creation_input_tokens
        return self.tokens.cache_read_input_tokens / written if written else None

    @property
    def thinking_share(self) -> float | None:
        """Thinking tokens / output tokens (None without output)."""
        output = self.tokens.output_tokens
        return self.tokens.thinking_tokens / output if output else None

    @property
    def cost_usd(self) -> Decimal | None:
        """What the calls with a known price cost (all of them when `unpriced_calls` is
        0), or None when no call of the group has a price."""
        return None if self._none_priced() else self.cost

    @property
    def no_cache_cost_usd(self) -> Decimal | None:
        """What the same priced calls would have cost with every prompt token billed as
        input."""
        return None if self._none_priced() else self.no_cache_cost

    @property
    def saving_usd(self) -> Decimal | None:
        """`no_cache_cost_usd - cost_usd` (negative when cache writes cost more than the
        reads saved)."""
        return None if self._none_priced() else self.no_cache_cost - self.cost

    def _none_priced(self) -> bool:
        return self.unpriced_calls > 0 and self.unpriced_calls == self.calls

    def add(self, key: GroupKey, sums: Sums, costs: tuple[Decimal, Decimal] | None) -> None:
        """Add one group of sums and its (cost, no-cache cost), None when it has no known
        price."""
        session, _provider, model, _day, _tier = key
        self.calls += sums.calls
        self.tokens.add(sums.tokens)
        if self.first_ts is None or sums.first_ts < self.first_ts:
            self.first_ts = sums.first_ts
        if self.last_ts is None or sums.last_ts > self.last_ts:
            self.last_ts = sums.last_ts
        self.models.add(model)
        self.sessions.add(session)
        if costs is None:
            self.unpriced_calls += sums.calls
            self.unpriced_tokens += sums.tokens.total_tokens
            return
        self.cost += costs[0]
        self.no_cache_cost += costs[1]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every count (exact ints), the derived ratios, costs as floats (USD)
        or None, times as UTC RFC 3339 text."""
        return {
            "session_id": self.session_id,
            "provider": self.provider,
            "model": self.model,
            "day": self.day,
            "sessions": len(self.sessions),
            "models": sorted(self.models),
            "calls": self.calls,
            "first_ts": None if self.first_ts is None else ts_text(self.first_ts),
            "last_ts": None if self.last_ts is None else ts_text(self.last_ts),
            **self.tokens.as_dict(),
            "cache_hit_ratio": self.cache_hit_ratio,
            "cache_write_payback": self.cache_write_payback,
            "thinking_share": self.thinking_share,
            "cost_usd": _usd(self.cost_usd),
            "no_cache_cost_usd": _usd(self.no_cache_cost_usd),
            "saving_usd": _usd(self.saving_usd),
            "unpriced_calls": self.unpriced_calls,
            "unpriced_tokens": self.unpriced_tokens,
            "bad_lines": self.bad_lines,
        }


def _costs(key: GroupKey, sums: Sums, book: PriceBook) -> tuple[Decimal, Decimal] | None:
    # (cost, cost without cache) of one group, or None without a known price.
    _session, provider, model, day, tier = key
    price = book.price(provider, model, day)
    if price is None:
        return None
    return price.cost(tier, sums.tokens, sums.calls), price.no_cache_cost(
        tier, sums.tokens, sums.calls
    )


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass
class Report:
    """The result of `summarize`: one `Summary` per group (sorted by key, or costliest
    first after `top`), their `total` (of every selected call, whatever `top` leaves
    out), the skipped lines and unreadable paths, the (provider, model) pairs no price
    was found for with their number of calls, the selection (`filters`), and how many
    groups `top` left out (`omitted`)."""

    by: GroupBy
    groups: list[Summary]
    total: Summary
    bad: BadLines
    unknown_prices: dict[tuple[str, str], int]
    files: int
    filters: Filters = field(default_factory=Filters)
    omitted: int = 0
    top_n: int | None = None
    _merged: dict[GroupKey, Sums] = field(default_factory=dict, repr=False)
    _book: PriceBook | None = field(default=None, repr=False)
    _bad_by_session: dict[str | None, int] = field(default_factory=dict, repr=False)

    def regroup(self, by: GroupBy) -> Report:
        """The same calls grouped by `by` instead (no second reading)."""
        book = self._book if self._book is not None else PriceBook()
        return _report(
            by,
            self._merged,
            book,
            bad=self.bad,
            bad_by_session=self._bad_by_session,
            files=self.files,
            filters=self.filters,
        )

    def top(self, count: int | None) -> Report:
        """The `count` costliest groups, costliest first (then by tokens, then by key),
        with `omitted` saying how many are left out; the total is unchanged. None: this
        report."""
        if count is None:
            return self
        ranked = sorted(self.groups, key=_rank)
        return replace(
            self, groups=ranked[:count], omitted=max(len(ranked) - count, 0), top_n=count
        )

    def as_dict(self, command: str = "report") -> dict[str, Any]:
        """JSON-ready, with the same keys whatever `by` is: `schema_version`, `command`,
        `by`, `top`, `filters`, `input` (logs read, valid and skipped lines, unreadable
        paths), `groups` (each a `Summary.as_dict()`), `omitted_groups` and `total`."""
        return {
            **envelope(command, self.filters, self.bad, self.files),
            "by": self.by,
            "top": self.top_n,
            "groups": [group.as_dict() for group in self.groups],
            "omitted_groups": self.omitted,
            "total": self.total.as_dict(),
        }


def _rank(summary: Summary) -> tuple[Decimal, int, tuple[str, ...]]:
    label = (summary.session_id or "", summary.provider or "", summary.model or "")
    return (-summary.cost, -summary.tokens.total_tokens, (*label, summary.day or ""))


def summarize(
    source: str | os.PathLike[str] | Sequence[LogFile],
    *,
    by: GroupBy = "session",
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    filters: Filters | None = None,
    prices: PriceBook | None = None,
    jobs: int | None = None,
    progress: bool | Progress = False,
) -> Report:
    """Read every log under `source` (path, `-`, or the result of `find_logs`) and sum the
    calls `filters` select (and with `ts` in [since, until)) per `by` (days are UTC days).

    `since`/`until` are datetimes (naive ones are UTC) or ISO 8601 text; times compare as
    instants, whatever offset a line's `ts` has. `jobs` worker processes fold files in
    parallel (default: one per CPU when the input is over 32 MB, else none). `progress`:
    a bar on a terminal (True, or the `Progress` to advance). Raises `AnalysisError` when
    the input holds no valid line at all; a selection that matches no call gives a report
    without groups.
    """
    logs = find_logs(source) if isinstance(source, str | os.PathLike) else list(source)
    book = prices if prices is not None else PriceBook()
    chosen = filters if filters is not None else Filters()
    if since is not None:
        chosen = replace(chosen, since=moment(since))
    if until is not None:
        chosen = replace(chosen, until=moment(until))
    bar = progress if isinstance(progress, Progress) else None
    if bar is None:
        bar = Progress(sum(log.size or 0 for log in logs) or None, enabled=bool(progress))
    merged: dict[GroupKey, Sums] = {}
    bad = BadLines()
    bad_by_session: dict[str | None, int] = {}
    try:
        for fold in fold_all(logs, book, filters=chosen, jobs=jobs, bar=bar):
            bad.merge(fold.bad)
            if fold.bad.count:
                bad_by_session[fold.session_id] = (
                    bad_by_session.get(fold.session_id, 0) + fold.bad.count
                )
            merge_groups(merged, fold.groups)
    finally:
        bar.close()
    if bad.valid == 0 and not bad.outside:
        raise AnalysisError(nothing_read(logs, bad))
    return _report(
        by,
        merged,
        book,
        bad=bad,
        bad_by_session=bad_by_session,
        files=len(logs),
        filters=chosen,
    )


def _report(
    by: GroupBy,
    merged: dict[GroupKey, Sums],
    book: PriceBook,
    *,
    bad: BadLines,
    bad_by_session: dict[str | None, int],
    files: int,
    filters: Filters,
) -> Report:
    groups: dict[tuple[str, ...], Summary] = {}
    total = Summary()
    unknown: dict[tuple[str, str], int] = {}
    for key in sorted(merged):
        sums = merged[key]
        session, provider, model, day, _tier = key
        if by == "session":
            group_key: tuple[str, ...] = (session,)
        elif by == "model":
            group_key = (provider, model)
        else:
            group_key = (day,)
        summary = groups.get(group_key)
        if summary is None:
            summary = groups[group_key] = _labelled(by, group_key)
        costs = _costs(key, sums, book)  # once per group: the total adds the same amounts
        summary.add(key, sums, costs)
        total.add(key, sums, costs)
        if costs is None:
            unknown[(provider, model)] = unknown.get((provider, model), 0) + sums.calls
    for owner, count in bad_by_session.items():
        total.bad_lines += count
        if by != "session" or owner is None:
            continue
        holder = groups.get((owner,))
        if holder is None:
            if filters.active:
                continue  # no row for a session none of whose calls is selected
            holder = groups[(owner,)] = _labelled(by, (owner,))
        holder.bad_lines += count
    ordered = [groups[key] for key in sorted(groups)]
    return Report(
        by,
        ordered,
        total,
        bad,
        unknown,
        files,
        filters,
        _merged=merged,
        _book=book,
        _bad_by_session=bad_by_session,
    )


def _labelled(by: GroupBy, key: tuple[str, ...]) -> Summary:
    if by == "session":
        return Summary(session_id=key[0])
    if by == "model":
        return Summary(provider=key[0], model=key[1])
    return Summary(day=key[0])


def nothing_read(logs: Sequence[LogFile], bad: BadLines) -> str:
    """Why no valid line at all was read from `logs`, in one line."""
    where = display_name(logs[0])
    if len(logs) > 1:
        where = f"{len(logs)} logs"
    if bad.unreadable and not bad.count:
        more = f" (and {len(bad.unreadable) - 1} more)" if len(bad.unreadable) > 1 else ""
        return f"nothing could be read: {bad.unreadable[0]}{more}"
    if bad.count:
        return (
            f"{where}: not a session log (none of its {bad.count} lines is a token-usage "
            f"record; first: {bad.samples[0]})"
        )
    return f"{where}: empty, no records to analyse"
