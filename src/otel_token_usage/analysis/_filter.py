"""Which calls a command looks at: `--since`/`--until`, `--session` and `--model`.

One `Filters` value is the whole selection; every command applies it the same way, in
the reader's blocks (worker processes included: it pickles). A valid line is selected
when its `ts` is in [since, until) (instants compared, whatever offset the line has),
its `session_id` matches one of `sessions` and its `model` one of `models` (an empty
tuple selects all). A value matches a pattern when it equals it or matches it as a
shell-style glob (`*`, `?`, `[...]`), case-sensitively: `--session 'ticket-*'`.

A line that is not valid is counted as skipped only when it may belong to the
selection: when what can still be read of it (a `ts` that is a time, a `session_id` or
`model` that is text) puts it outside, it is passed over like the valid lines outside
(`BadLines.outside` counts them). A line that cannot be placed (torn, not JSON) always
counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fnmatch import translate
from functools import lru_cache
from itertools import compress, repeat
from operator import and_, attrgetter
from typing import Any

import msgspec

from ._line import Line, moment, ts_text

__all__ = ["Filters"]

_TS = attrgetter("ts")
_SESSION = attrgetter("session_id")
_MODEL = attrgetter("model")


@dataclass(frozen=True, slots=True)
class Filters:
    """The calls to look at (see the module docstring). `since`/`until` are aware
    datetimes or None; `sessions`/`models` are ids or glob patterns (empty: all)."""

    since: datetime | None = None
    until: datetime | None = None
    sessions: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        sessions: Iterable[str] = (),
        models: Iterable[str] = (),
    ) -> Filters:
        """Filters from times (datetimes, naive ones UTC, or ISO 8601 text) and patterns."""
        return cls(
            None if since is None else moment(since),
            None if until is None else moment(until),
            tuple(sessions),
            tuple(models),
        )

    @property
    def active(self) -> bool:
        """Whether anything is filtered out at all."""
        return bool(
            self.since is not None or self.until is not None or self.sessions or self.models
        )

    def selected(self, records: list[Line]) -> list[bool] | None:
        """Per record, whether it is selected; None when all are (the common case costs
        nothing). A few C-level passes per block, never a Python loop per line."""
        masks: list[Iterator[bool]] = []
        if self.since is not None:
            masks.append(map(self.since.__le__, map(_TS, records)))
        if self.until is not None:
            masks.append(map(self.until.__gt__, map(_TS, records)))
        for patterns, getter in ((self.sessions, _SESSION), (self.models, _MODEL)):
            if patterns:
                mask = _matching(_matcher(patterns), list(map(getter, records)))
                if mask is not None:
                    masks.append(mask)
        if not masks:
            return None
        combined = masks[0]
        for mask in masks[1:]:
            combined = map(and_, combined, mask)
        return list(combined)

    def keep(self, records: list[Line]) -> list[Line]:
        """The selected records, in order."""
        mask = self.selected(records)
        return records if mask is None else list(compress(records, mask))

    def admits(self, ts: datetime | None, session_id: str | None, model: str | None) -> bool:
        """Whether a call with these values is selected; a value that is None (not
        known) never rules it out."""
        if ts is not None:
            if self.since is not None and ts < self.since:
                return False
            if self.until is not None and ts >= self.until:
                return False
        if session_id is not None and self.sessions and not _matcher(self.sessions)(session_id):
            return False
        return not (model is not None and self.models and not _matcher(self.models)(model))

    def may_hold(self, raw: bytes) -> bool:
        """For a line that is not valid: False only when what can be read of it puts it
        outside the selection."""
        if not self.active:
            return True
        try:
            found = _LOOSE.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return True
        if not isinstance(found, dict):
            return True
        ts = None
        if isinstance(text := found.get("ts"), str):
            try:
                ts = _aware(text)
            except ValueError:
                ts = None
        session = found.get("session_id")
        model = found.get("model")
        return self.admits(
            ts,
            session if isinstance(session, str) else None,
            model if isinstance(model, str) else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the same keys whatever is set (`since`/`until` UTC text or null,
        `session`/`model` lists)."""
        return {
            "since": None if self.since is None else ts_text(self.since),
            "until": None if self.until is None else ts_text(self.until),
            "session": list(self.sessions),
            "model": list(self.models),
        }

    def describe(self) -> str:
        """The selection in words, for messages (`--session a, --since ...`)."""
        parts = [
            *(f"--session {value}" for value in self.sessions),
            *(f"--model {value}" for value in self.models),
        ]
        if self.since is not None:
            parts.append(f"--since {ts_text(self.since)}")
        if self.until is not None:
            parts.append(f"--until {ts_text(self.until)}")
        return " ".join(parts) or "(no filter)"


_LOOSE = msgspec.json.Decoder()


def _aware(text: str) -> datetime | None:
    # A `ts` as a valid line would have it (with an offset); one without is not placed.
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else None


@lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    exact = frozenset(patterns)
    globs = [translate(p) for p in patterns if any(c in p for c in "*?[")]
    rule = re.compile("|".join(f"(?:{g})" for g in globs)) if globs else None
    known: dict[str, bool] = {}

    def matches(value: str) -> bool:
        hit = known.get(value)
        if hit is None:
            hit = value in exact or (rule is not None and rule.match(value) is not None)
            if len(known) < 100_000:
                known[value] = hit
        return hit

    return matches


def _matching(matches: Callable[[str], bool], values: list[str]) -> Iterator[bool] | None:
    # Each distinct value is matched once; None when every value matches.
    distinct = set(values)
    chosen = {value for value in distinct if matches(value)}
    if len(chosen) == len(distinct):
        return None
    if not chosen:
        return repeat(False, len(values))
    return map(chosen.__contains__, values)
