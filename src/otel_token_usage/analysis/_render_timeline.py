"""Writing the cache timeline (`token-usage cache`) as a table, JSON or CSV, as it streams.

The rows come in as `timeline_items` yields them: each log's rows, then the summary of
each session that log held. The table prints each summary right under that session's
rows; JSON is one object whose `rows` list streams out and whose `sessions` list holds
every session's summary; CSV has the rows only (one row shape per file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from otel_token_usage._util import printable
from otel_token_usage.record import TokenCounts

from ._line import ts_text
from ._output import JsonObject, Out, fmt_int, fmt_pct, fmt_usd, write_csv
from ._render import OutputFormat
from ._timeline import SessionCache, TimelineRow

__all__ = ["ROW_KEYS", "session_line", "write_timeline"]

ROW_KEYS = (
    "session_id",
    "index",
    "ts",
    "gap_s",
    "model",
    *TokenCounts().as_dict(),
    "cache_hit_ratio",
    "cold",
    "reason",
    "ttl_s",
    "rounds_to_warm",
    "extra_cost_usd",
)
"""The keys of a timeline row, in CSV column order."""


def write_timeline(
    items: Iterable[TimelineRow | SessionCache],
    fmt: OutputFormat,
    out: Out,
    *,
    head: dict[str, Any] | None = None,
    tail: Callable[[], dict[str, Any]] | None = None,
) -> int:
    """Stream timeline rows (and session summaries) in `fmt`; returns the number of rows
    written. JSON: the keys of `head`, then `rows`, then the keys `tail()` gives once the
    rows are exhausted (by default each session's summary as `sessions`)."""
    if fmt == "json":
        return _write_json(items, out, head or {}, tail)
    if fmt == "csv":
        return write_csv(
            out,
            ROW_KEYS,
            ([values[k] for k in ROW_KEYS] for values in _row_dicts(items)),
        )
    return _write_table(items, out)


def _row_dicts(items: Iterable[TimelineRow | SessionCache]) -> Iterable[dict[str, Any]]:
    return (item.as_dict() for item in items if isinstance(item, TimelineRow))


def _write_json(
    items: Iterable[TimelineRow | SessionCache],
    out: Out,
    head: dict[str, Any],
    tail: Callable[[], dict[str, Any]] | None,
) -> int:
    document = JsonObject(out)
    for name, value in head.items():
        document.key(name, value)
    document.open_list("rows")
    count = 0
    sessions: dict[str, SessionCache] = {}
    for item in items:
        if isinstance(item, SessionCache):
            sessions[item.session_id] = item
            continue
        document.item(item.as_dict())
        count += 1
    document.close_list()
    if tail is None:
        document.key("sessions", [s.as_dict() for s in sessions.values()])
    else:
        for name, value in tail().items():
            document.key(name, value)
    document.close()
    return count


_LINE = "{:>6} {:<24} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6}  {:<14} {:>5} {:>9}\n"
_HEADINGS = (
    "#",
    "time",
    "gap",
    "prompt",
    "fresh",
    "read",
    "write",
    "hit",
    "cold reason",
    "warm",
    "extra $",
)


def _write_table(items: Iterable[TimelineRow | SessionCache], out: Out) -> int:
    count = 0
    current = None
    for item in items:
        if isinstance(item, SessionCache):
            out.write(f"{session_line(item)}\n")
            current = None
            continue
        if item.session_id != current:
            current = item.session_id
            out.write(f"\nsession {printable(current)}\n")
            out.write(_LINE.format(*_HEADINGS))
        out.write(_row_line(item))
        count += 1
    return count


def _row_line(row: TimelineRow) -> str:
    return (
        _LINE.format(
            row.index,
            ts_text(row.ts),
            _gap(row.gap_s),
            fmt_int(row.tokens.prompt_tokens),
            fmt_int(row.tokens.input_tokens),
            fmt_int(row.tokens.cache_read_input_tokens),
            fmt_int(row.tokens.cache_creation_input_tokens),
            fmt_pct(row.cache_hit_ratio),
            row.reason or "",
            "" if row.rounds_to_warm is None else row.rounds_to_warm,
            "" if row.extra_cost_usd is None else fmt_usd(row.extra_cost_usd),
        ).rstrip()
        + "\n"
    )


def session_line(session: SessionCache) -> str:
    """A session's cache summary in one line, for people (names escaped)."""
    reasons = ", ".join(f"{k} {v}" for k, v in session.reasons.items() if v)
    mean = session.mean_rounds_to_warm
    never = session.never_warm_again
    extra = session.extra_cost_usd
    unpriced = session.unpriced_cold_rounds
    cost = "?" if extra is None else f"${fmt_usd(extra)}"
    if unpriced and extra is not None:
        cost += f" (and {unpriced} cold rounds without a known price)"
    return (
        f"session {printable(session.session_id)}: {session.calls} calls, "
        f"{session.cold_rounds} cold ({reasons or 'none'}); {session.ttl_label}; warm again "
        f"after {'-' if mean is None else f'{mean:.1f}'} rounds on average"
        f"{f', never for {never}' if never else ''}; cold rounds cost {cost} extra"
    )


def _gap(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"
