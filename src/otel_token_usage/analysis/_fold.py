"""Folding one log file into token sums per (session, provider, model, UTC day, price tier).

This is the hot loop of `report` and `cost`; it runs in worker processes, so everything
here is picklable and kept lean. A block of lines is decoded in one call and, in the
common case (one session, provider and model per block, lines in time order), summed with
a few C-level passes (`map`/`sum`/`min`/`max`) per block, never a Python loop per line:
the block is cut into UTC days by bisecting its timestamps, and a price tier split is
only looked for when the block's largest prompt passes a tier boundary.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress, islice
from operator import add, and_, attrgetter, le

from otel_token_usage.record import EXTENSION_FIELDS, PROMPT_KINDS, TOKEN_KINDS, TokenCounts

from ._filter import Filters
from ._line import Line, next_utc_day, utc_day
from ._reader import BadLines, LogFile, read_lines

__all__ = ["FileFold", "GroupKey", "Sums", "Thresholds", "fold_file", "merge_groups"]

GroupKey = tuple[str, str, str, str, int]
"""(session_id, provider, model, UTC day, price tier)."""


@dataclass(slots=True)
class Sums:
    """Calls, their token sums and the first and last call's `ts`."""

    calls: int
    tokens: TokenCounts
    first_ts: datetime
    last_ts: datetime

    def merge(self, other: Sums) -> None:
        """Add `other` into these sums (counts summed, first/last timestamps widened)."""
        self.calls += other.calls
        self.tokens.add(other.tokens)
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)


_ALL = Filters()

Thresholds = Callable[[str, str, str], tuple[int, ...]]
"""(provider, model, UTC day) -> the prompt sizes at which its price changes."""


@dataclass(slots=True)
class FileFold:
    """What one file contributed: its sums per group, its skipped lines (and whether it
    could be read, and its number of valid lines: `bad.valid`), and the session those
    are charged to (the file's first valid line's, else the one its directory name
    stands for)."""

    groups: dict[GroupKey, Sums] = field(default_factory=dict)
    bad: BadLines = field(default_factory=BadLines)
    session_id: str | None = None


def fold_file(
    log: LogFile,
    thresholds: Thresholds,
    filters: Filters = _ALL,
    on_block: Callable[[int], None] | None = None,
) -> FileFold:
    """Sum the valid lines of `log` that `filters` select into a `FileFold`, each group
    in its price tier; `on_block` is told the size of each block read."""
    fold = FileFold()
    for _numbers, records in read_lines(log, fold.bad, on_block, filters=filters):
        if fold.session_id is None and records:
            fold.session_id = records[0].session_id
        if records:
            _fold_block(fold.groups, records, thresholds)
    if fold.session_id is None:
        fold.session_id = log.session_hint
    return fold


_MAX_SPLIT = 16
_TS = attrgetter("ts")
_SESSION = attrgetter("session_id")
_PROVIDER = attrgetter("provider")
_MODEL = attrgetter("model")
_KEY = attrgetter("session_id", "provider", "model")
# Each kind's getter, and whether a line may leave it out (an extension field: None).
_KINDS = tuple((attrgetter(kind), kind in EXTENSION_FIELDS) for kind in TOKEN_KINDS)
_PROMPT = tuple(attrgetter(kind) for kind in PROMPT_KINDS)


def _fold_block(groups: dict[GroupKey, Sums], records: list[Line], thresholds: Thresholds) -> None:
    for part in _split_keys(records):
        stamps = list(map(_TS, part))
        for day_part, first, last in _split_days(part, stamps):
            _fold_part(groups, day_part, first, last, thresholds)


def _split_keys(records: list[Line]) -> Iterable[list[Line]]:
    # Parts of one session, provider and model: usually the block itself, else a compress
    # pass per value, or, when a block mixes many, one dict pass.
    parts = [records]
    for getter in (_SESSION, _PROVIDER, _MODEL):
        split: list[list[Line]] = []
        for part in parts:
            distinct = set(map(getter, part))
            if len(distinct) == 1:
                split.append(part)
            elif len(distinct) > _MAX_SPLIT:
                by_key: dict[tuple[str, str, str], list[Line]] = {}
                for record in records:
                    by_key.setdefault(_KEY(record), []).append(record)
                return by_key.values()
            else:
                values = list(map(getter, part))
                split.extend(list(compress(part, map(value.__eq__, values))) for value in distinct)
        parts = split
    return parts


def _split_days(
    part: list[Line], stamps: list[datetime]
) -> list[tuple[list[Line], datetime, datetime]]:
    # (lines, first ts, last ts) per UTC day: the whole part when it is of one day, cut at
    # each midnight by bisection when in time order, else one dict pass.
    first, last = min(stamps), max(stamps)
    if utc_day(first) == utc_day(last):
        return [(part, first, last)]
    days: list[tuple[list[Line], datetime, datetime]] = []
    if all(map(le, stamps, islice(stamps, 1, None))):
        start = 0
        while start < len(stamps):
            midnight = next_utc_day(stamps[start])
            cut = len(stamps) if midnight is None else bisect_left(stamps, midnight, start)
            days.append((part[start:cut], stamps[start], stamps[cut - 1]))
            start = cut
        return days
    by_day: dict[str, list[Line]] = {}
    for record, stamp in zip(part, stamps, strict=True):
        by_day.setdefault(utc_day(stamp), []).append(record)
    for records in by_day.values():
        day_stamps = list(map(_TS, records))
        days.append((records, min(day_stamps), max(day_stamps)))
    return days


def _fold_part(
    groups: dict[GroupKey, Sums],
    part: list[Line],
    first: datetime,
    last: datetime,
    thresholds: Thresholds,
) -> None:
    # One session, provider, model and day; split by price tier only if the largest
    # prompt passes a tier boundary and the smallest does not.
    head = part[0]
    steps = thresholds(head.provider, head.model, utc_day(first))
    tier = 0
    if steps:
        tier = _tier(steps, max(_prompts(part)))
        if tier:
            prompts = list(_prompts(part))
            low = _tier(steps, min(prompts))
            if low != tier:
                for each in range(low, tier + 1):
                    lower = steps[each - 1] if each else -1
                    keep = map(lower.__lt__, prompts)
                    if each < len(steps):
                        keep = map(and_, keep, map(steps[each].__ge__, prompts))
                    chosen = list(compress(part, keep))
                    if chosen:
                        stamps = list(map(_TS, chosen))
                        _sum_into(groups, chosen, min(stamps), max(stamps), each)
                return
    _sum_into(groups, part, first, last, tier)


def _prompts(part: list[Line]) -> Iterable[int]:
    # Each line's prompt, summed kind by kind in C (`TokenCounts.prompt_tokens` per line).
    total, *rest = (map(getter, part) for getter in _PROMPT)
    for more in rest:
        total = map(add, total, more)
    return total


def _sum_into(
    groups: dict[GroupKey, Sums], part: list[Line], first: datetime, last: datetime, tier: int
) -> None:
    # `part` is of one session, provider, model, day (that of `first`) and tier. A count
    # a line leaves out (None) adds nothing.
    tokens = TokenCounts(
        *[
            sum(filter(None, map(kind, part)) if optional else map(kind, part))
            for kind, optional in _KINDS
        ]
    )
    head = part[0]
    key = (head.session_id, head.provider, head.model, utc_day(first), tier)
    sums = Sums(len(part), tokens, first, last)
    have = groups.get(key)
    if have is None:
        groups[key] = sums
    else:
        have.merge(sums)


def _tier(steps: tuple[int, ...], prompt: int) -> int:
    tier = 0
    for start in steps:
        if prompt > start:
            tier += 1
    return tier


def merge_groups(into: dict[GroupKey, Sums], groups: dict[GroupKey, Sums]) -> None:
    """Merge one fold's groups into another's."""
    for key, sums in groups.items():
        have = into.get(key)
        if have is None:
            into[key] = sums
        else:
            have.merge(sums)
