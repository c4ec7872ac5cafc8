"""Folding one log file into token sums per (session, provider, model, day, price tier).

This is the hot loop of `report` and `cost`; it runs in worker processes (one file per
task), so everything here is picklable and kept lean: a block of lines is decoded in
one call and, in the common case (one session, model and day per block), summed with a
handful of C-level passes instead of a Python loop per line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import add, and_, attrgetter, itemgetter
from typing import Any

from ._reader import BadLines, LogFile, decode_block, iter_blocks, parse_lines

__all__ = ["FileFold", "GroupKey", "Sums", "fold_file"]

GroupKey = tuple[str, str, str, str, int]
"""(session_id, provider, model, UTC day, price tier)."""


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
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_creation_1h_input_tokens += other.cache_creation_1h_input_tokens
        self.output_tokens += other.output_tokens
        self.thinking_tokens += other.thinking_tokens
        self.first_ts = min(self.first_ts, other.first_ts)
        self.last_ts = max(self.last_ts, other.last_ts)


Thresholds = Callable[[str, str, str], tuple[int, ...]]


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
    """Sum the usable lines of `log` whose `ts` is in [since, until) into a `FileFold`;
    `on_block` is told the size of each block read."""
    fold = FileFold(session_id=None)
    name = "<stdin>" if log.path == "-" else log.path
    for first_line, lines, block in iter_blocks(log):
        if on_block is not None:
            on_block(len(block))
        records = decode_block(block, lines)
        rows: Iterable[Any]
        if records is not None:
            fold.calls += len(records)
            if fold.session_id is None and records:
                fold.session_id = records[0].session_id
            if _fold_block(fold.groups, records, thresholds, since, until):
                continue
            rows = map(_ROW, records)
        else:
            calls = list(parse_lines(name, first_line, block, fold.bad))
            fold.calls += len(calls)
            if calls and fold.session_id is None:
                fold.session_id = calls[0].session_id
            rows = map(_ROW, calls)
        _fold_rows(fold.groups, rows, thresholds, since, until)
    if fold.session_id is None:
        fold.session_id = log.session_hint
    return fold


_MAX_SPLIT = 16
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


def _fold_block(
    groups: dict[GroupKey, Sums],
    records: list[Any],
    thresholds: Thresholds,
    since: str | None,
    until: str | None,
) -> bool:
    # Splits the block into parts of one session, provider, model, day and tier, each
    # selected and summed in C-level passes (map/compress/sum), never a Python loop per
    # line. Returns False (nothing added) when the block mixes too many keys for that.
    if since is not None or until is not None:
        records = _in_range(records, since, until)
    parts = _partition(records)
    if parts is None:
        return False
    for part, stamps in parts:
        _fold_part(groups, part, stamps, thresholds)
    return True


def _in_range(records: list[Any], since: str | None, until: str | None) -> list[Any]:
    if since is not None:
        records = list(compress(records, map(since.__le__, map(_TS, records))))
    if until is not None:
        records = list(compress(records, map(until.__gt__, map(_TS, records))))
    return records


def _partition(records: list[Any]) -> list[tuple[list[Any], list[str]]] | None:
    parts = [records]
    for getter in (_SESSION, _PROVIDER, _MODEL, None):
        split: list[list[Any]] = []
        for part in parts:
            values = list(map(_DAY, map(_TS, part)) if getter is None else map(getter, part))
            distinct = set(values)
            if len(distinct) == 1:
                split.append(part)
            elif len(distinct) > _MAX_SPLIT:
                return None
            else:
                split.extend(list(compress(part, map(v.__eq__, values))) for v in distinct)
        parts = split
    return [(part, list(map(_TS, part))) for part in parts if part]


def _fold_part(
    groups: dict[GroupKey, Sums], part: list[Any], stamps: list[str], thresholds: Thresholds
) -> None:
    head = part[0]
    day = stamps[0][:10]
    steps = thresholds(head.provider, head.model, day)
    if steps:
        prompts = list(map(add, map(add, map(_INPUT, part), map(_READ, part)), map(_WRITE, part)))
        low, high = _tier(steps, min(prompts)), _tier(steps, max(prompts))
        if low != high:
            for tier in range(low, high + 1):
                lower = steps[tier - 1] if tier else -1
                upper = steps[tier] if tier < len(steps) else None
                keep = map(lower.__lt__, prompts)
                if upper is not None:
                    keep = map(and_, keep, map(upper.__ge__, prompts))
                chosen = list(compress(part, keep))
                if chosen:
                    _sum_into(groups, chosen, list(map(_TS, chosen)), day, tier)
            return
        _sum_into(groups, part, stamps, day, low)
        return
    _sum_into(groups, part, stamps, day, 0)


def _sum_into(
    groups: dict[GroupKey, Sums], part: list[Any], stamps: list[str], day: str, tier: int
) -> None:
    hours = list(map(_WRITE_1H, part))
    if None in hours:
        hours = [0 if hour is None else hour for hour in hours]
    head = part[0]
    sums = Sums(
        len(part),
        sum(map(_INPUT, part)),
        sum(map(_READ, part)),
        sum(map(_WRITE, part)),
        sum(hours),
        sum(map(_OUTPUT, part)),
        sum(map(_THINKING, part)),
        min(stamps),
        max(stamps),
    )
    _add(groups, (head.session_id, head.provider, head.model, day, tier), sums)


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
        steps = thresholds(provider, model, day)
        tier = _tier(steps, fresh + read + write) if steps else 0
        _add(
            groups,
            (session, provider, model, day, tier),
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
