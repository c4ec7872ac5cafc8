"""Folding one log file into token sums per (session, provider, model, day, price tier).

This is the hot loop of `report` and `cost`; it runs in worker processes, so everything
here is picklable and kept lean. A block of lines is decoded in one call and, in the
common case (one session, provider and model per block, lines in time order), summed with
a few C-level passes (`map`/`sum`/`min`/`max`) per block, never a Python loop per line:
the block is cut into days by bisecting its timestamps, and a price tier split is only
looked for when the block's largest prompt passes a tier boundary.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import add, and_, attrgetter, itemgetter
from typing import Any

from ._reader import BadLines, LogFile, decode_block, iter_blocks, parse_lines

__all__ = ["FileFold", "GroupKey", "Sums", "Thresholds", "fold_file"]

GroupKey = tuple[str, str, str, str, int]
"""(session_id, provider, model, UTC day, price tier)."""


COUNTS: tuple[str, ...] = (
    "calls",
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
    "output_tokens",
    "thinking_tokens",
)
"""The counts `Sums` (and the report's summaries) add up, in one place."""


def add_counts(total: Any, part: Any) -> None:
    """Add each of `part`'s `COUNTS` into `total`'s (per group, never per record)."""
    for name in COUNTS:
        setattr(total, name, getattr(total, name) + getattr(part, name))


@dataclass(slots=True)
class Sums:
    """Token sums of a group of calls and the first and last call's `ts`."""

    calls: int
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cache_creation_1h_input_tokens: int
    output_tokens: int
    thinking_tokens: int
    first_ts: str
    last_ts: str

    def merge(self, other: Sums) -> None:
        """Add `other` into these sums (counts summed, first/last timestamps widened)."""
        add_counts(self, other)
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)

    def __reduce__(self) -> tuple[type[Sums], tuple[Any, ...]]:
        # Worker results carry thousands of these: a plain tuple pickles several times
        # faster than the slots state a dataclass gets by default.
        return Sums, (
            self.calls,
            self.input_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            self.cache_creation_1h_input_tokens,
            self.output_tokens,
            self.thinking_tokens,
            self.first_ts,
            self.last_ts,
        )


Thresholds = Callable[[str, str, str], tuple[int, ...]]
"""(provider, model, UTC day) -> the prompt sizes at which its price changes."""


@dataclass(slots=True)
class FileFold:
    """What one file contributed: its sums per group, its skipped lines, and the session
    those skipped lines are charged to (the file's first readable session, else the one
    its directory name stands for)."""

    groups: dict[GroupKey, Sums] = field(default_factory=dict)
    bad: BadLines = field(default_factory=BadLines)
    session_id: str | None = None
    calls: int = 0


def fold_file(
    log: LogFile,
    thresholds: Thresholds,
    since: str | None,
    until: str | None,
    on_block: Callable[[int], None] | None = None,
) -> FileFold:
    """Sum the usable lines of `log` whose `ts` is in [since, until) into a `FileFold`,
    each group in its price tier; `on_block` is told the size of each block read."""
    fold = FileFold(session_id=None)
    name = "<stdin>" if log.path == "-" else log.path
    for first_line, lines, block in iter_blocks(log):
        if on_block is not None:
            on_block(len(block))
        records = decode_block(block, lines)
        if records is not None:
            fold.calls += len(records)
            if fold.session_id is None and records:
                fold.session_id = records[0].session_id
            if since is not None or until is not None:
                records = _in_range(records, since, until)
            if records:
                _fold_block(fold.groups, records, thresholds)
            continue
        calls = list(parse_lines(name, first_line, block, fold.bad))
        fold.calls += len(calls)
        if calls and fold.session_id is None:
            fold.session_id = calls[0].session_id
        _fold_rows(fold.groups, map(_ROW, calls), thresholds, since, until)
    if fold.session_id is None:
        fold.session_id = log.session_hint
    return fold


_MAX_SPLIT = 16
_LAST_CHAR = 0x10FFFF
_DAY = itemgetter(slice(0, 10))
_TS = attrgetter("ts")
_SESSION = attrgetter("session_id")
_PROVIDER = attrgetter("provider")
_MODEL = attrgetter("model")
_INPUT = attrgetter("input_tokens")
_READ = attrgetter("cache_read_input_tokens")
_WRITE = attrgetter("cache_creation_input_tokens")
_WRITE_1H = attrgetter("cache_creation_1h_input_tokens")
_OUTPUT = attrgetter("output_tokens")
_THINKING = attrgetter("thinking_tokens")
_ROW = attrgetter(
    "ts",
    "session_id",
    "provider",
    "model",
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
    "output_tokens",
    "thinking_tokens",
)


def _in_range(records: list[Any], since: str | None, until: str | None) -> list[Any]:
    if since is not None:
        records = list(compress(records, map(since.__le__, map(_TS, records))))
    if until is not None:
        records = list(compress(records, map(until.__gt__, map(_TS, records))))
    return records


def _fold_block(groups: dict[GroupKey, Sums], records: list[Any], thresholds: Thresholds) -> None:
    parts = _split_keys(records, (_SESSION, _PROVIDER, _MODEL))
    if parts is None:
        _fold_rows(groups, map(_ROW, records), thresholds, None, None)
        return
    for part in parts:
        stamps = list(map(_TS, part))
        days = _days(stamps)
        if days is not None:
            for start, stop, first, last in days:
                whole = len(days) == 1
                _fold_part(groups, part if whole else part[start:stop], first, last, thresholds)
            continue
        by_day = _split_days(part, stamps)
        if by_day is None:
            _fold_rows(groups, map(_ROW, part), thresholds, None, None)
            continue
        for day_part, day_stamps in by_day:
            _fold_part(groups, day_part, min(day_stamps), max(day_stamps), thresholds)


def _split_keys(
    records: list[Any], getters: tuple[Callable[[Any], str], ...]
) -> list[list[Any]] | None:
    # Parts of one value of each getter (usually the block itself), or None when the block
    # mixes too many values for compress passes to pay.
    parts = [records]
    for getter in getters:
        split: list[list[Any]] = []
        for part in parts:
            if len(set(map(getter, part))) == 1:
                split.append(part)
                continue
            values = list(map(getter, part))
            distinct = set(values)
            if len(distinct) > _MAX_SPLIT:
                return None
            split.extend(list(compress(part, map(value.__eq__, values))) for value in distinct)
        parts = split
    return parts


def _days(stamps: list[str]) -> list[tuple[int, int, str, str]] | None:
    # [(start, stop, first ts, last ts)] per UTC day when each day's lines are contiguous
    # (lines come in time order), else None. A day's lines are exactly those whose `ts`
    # is in [day, day with its last character incremented), i.e. starts with the
    # 10-character day; each cut found by bisection is checked, not assumed.
    first, last = min(stamps), max(stamps)
    days: list[tuple[int, int, str, str]] = []
    start = 0
    while first[:10] != last[:10]:
        if len(first) < 10 or ord(first[9]) == _LAST_CHAR:
            return None
        end = first[:9] + chr(ord(first[9]) + 1)
        cut = bisect_left(stamps, end, start)
        if cut in (start, len(stamps)):
            return None
        head_last = max(stamps[start:cut])
        rest_first = min(stamps[cut:])
        if head_last >= end or rest_first < end:
            return None
        days.append((start, cut, first, head_last))
        start, first = cut, rest_first
    days.append((start, len(stamps), first, last))
    return days


def _split_days(part: list[Any], stamps: list[str]) -> list[tuple[list[Any], list[str]]] | None:
    # Lines of several days interleaved: one compress pass per day (None if too many).
    days = list(map(_DAY, stamps))
    distinct = set(days)
    if len(distinct) > _MAX_SPLIT:
        return None
    split = []
    for day in distinct:
        keep = list(map(day.__eq__, days))
        split.append((list(compress(part, keep)), list(compress(stamps, keep))))
    return split


def _fold_part(
    groups: dict[GroupKey, Sums],
    part: list[Any],
    first: str,
    last: str,
    thresholds: Thresholds,
) -> None:
    # One session, provider, model and day; split by price tier only if the largest
    # prompt passes a tier boundary and the smallest does not.
    head = part[0]
    day = first[:10]
    steps = thresholds(head.provider, head.model, day)
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


def _prompts(part: list[Any]) -> Iterable[int]:
    return map(add, map(add, map(_INPUT, part), map(_READ, part)), map(_WRITE, part))


def _sum_into(
    groups: dict[GroupKey, Sums], part: list[Any], first: str, last: str, tier: int
) -> None:
    # `part` is of one session, provider, model, day (that of `first`) and tier.
    head = part[0]
    sums = Sums(
        len(part),
        sum(map(_INPUT, part)),
        sum(map(_READ, part)),
        sum(map(_WRITE, part)),
        sum(filter(None, map(_WRITE_1H, part))),  # None where a line lacks the field
        sum(map(_OUTPUT, part)),
        sum(map(_THINKING, part)),
        first,
        last,
    )
    _add(groups, (head.session_id, head.provider, head.model, first[:10], tier), sums)


def _fold_rows(
    groups: dict[GroupKey, Sums],
    rows: Iterable[tuple[Any, ...]],
    thresholds: Thresholds,
    since: str | None,
    until: str | None,
) -> None:
    for ts, session, provider, model, fresh, read, write, hour, out, think in rows:
        if (since is not None and ts < since) or (until is not None and ts >= until):
            continue
        day = ts[:10]
        prompt = fresh + read + write
        steps = thresholds(provider, model, day)
        _add(
            groups,
            (session, provider, model, day, _tier(steps, prompt) if steps else 0),
            Sums(1, fresh, read, write, hour or 0, out, think, ts, ts),
        )


def _tier(steps: tuple[int, ...], prompt: int) -> int:
    tier = 0
    for start in steps:
        if prompt > start:
            tier += 1
    return tier


def _add(groups: dict[GroupKey, Sums], key: GroupKey, sums: Sums) -> None:
    have = groups.get(key)
    if have is None:
        groups[key] = sums
    else:
        have.merge(sums)
