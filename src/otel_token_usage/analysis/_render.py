"""Writing reports, cost tables and cache timelines as a table (for people), JSON or CSV.

JSON and CSV carry every field at full precision: counts are exact integers however large
(JSON is written by msgspec, which has no 64-bit limit). The table rounds for reading and
shows names from the logs with their control characters escaped, so log content never
drives the terminal. Costs are those of the calls with a known price; where some calls
have none, the table marks the cost with `*` and says below how many calls and tokens are
left out, and JSON and CSV give `unpriced_calls` and `unpriced_tokens`. Rows of a
timeline are written as they come, so a long session streams through.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal, TextIO

import msgspec

from otel_token_usage._util import printable
from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import TOKEN_KINDS, TokenCounts

from ._line import ts_text, utc_day
from ._summary import Report, Summary
from ._timeline import SessionCache, TimelineRow

__all__ = ["OutputFormat", "cost_rows", "write_costs", "write_report", "write_timeline"]

OutputFormat = Literal["table", "json", "csv"]
_LABELS = TokenCounts.labels()
_UNPRICED_MARK = "*"


def dump_json(value: Any) -> str:
    """`value` as indented JSON with a final newline; integers exact at any size."""
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n"


def write_report(report: Report, fmt: OutputFormat, out: TextIO) -> None:
    """Write `report` in `fmt`; JSON is `Report.as_dict()`."""
    if fmt == "json":
        out.write(dump_json(report.as_dict()))
        return
    if fmt == "csv":
        _write_csv(out, report.by, [g.as_dict() for g in report.groups], report.total.as_dict())
        return
    headers = [
        report.by,
        "calls",
        *_LABELS.values(),
        "prompt",
        "hit",
        "payback",
        "think%",
        "cost $",
        "no-cache $",
        "saved $",
        "bad",
    ]
    rows = [[_label(g, report.by), *_summary_cells(g)] for g in report.groups]
    rows.append(["TOTAL", *_summary_cells(report.total)])
    _write_table(out, headers, rows)
    _unpriced_note(out, report)


def _label(summary: Summary, by: str) -> str:
    if by == "model":
        return printable(f"{summary.provider}/{summary.model}")
    if by == "day":
        return summary.day or "?"
    return printable(summary.session_id or "?")


def _summary_cells(s: Summary) -> list[str]:
    tokens = s.tokens
    return [
        _int(s.calls),
        *(_int(getattr(tokens, kind)) for kind in TOKEN_KINDS),
        _int(tokens.prompt_tokens),
        _pct(s.cache_hit_ratio),
        "-" if s.cache_write_payback is None else f"{s.cache_write_payback:.1f}x",
        _pct(s.thinking_share),
        *(_cost_cell(value, s.unpriced_calls) for value in (s.cost_usd, s.no_cache_cost_usd)),
        _cost_cell(s.saving_usd, s.unpriced_calls),
        _int(s.bad_lines),
    ]


def _cost_cell(value: Decimal | float | None, unpriced_calls: int) -> str:
    if value is None:
        return "?"
    return _usd(value) + (_UNPRICED_MARK if unpriced_calls else "")


def _unpriced_note(out: TextIO, report: Report) -> None:
    total = report.total
    if not total.unpriced_calls:
        return
    models = ", ".join(
        printable(f"{provider}/{model}") for provider, model in sorted(report.unknown_prices)
    )
    out.write(
        f"{_UNPRICED_MARK} priced calls only: {_int(total.unpriced_calls)} calls "
        f"({_int(total.unpriced_tokens)} tokens) have no known price ({models}); "
        "? = none has one\n"
    )


def cost_rows(report: Report, book: PriceBook) -> list[dict[str, Any]]:
    """Per model (a `by="model"` report): tokens by kind, the rates in force on the model's
    last day (USD per million tokens, base tier), cost, cost without cache and saving."""
    rows: list[dict[str, Any]] = []
    for group in report.groups:
        provider, model = group.provider or "", group.model or ""
        day = utc_day(group.last_ts) if group.last_ts is not None else "1970-01-01"
        price = book.price(provider, model, day)
        rates = price.tiers[0] if price is not None else None
        tokens = group.tokens
        rows.append(
            {
                "provider": provider,
                "model": model,
                "price_model": None if price is None else price.model_id,
                "price_source": None if price is None else price.source,
                "tiered": bool(price and price.thresholds),
                "calls": group.calls,
                "input_tokens": tokens.input_tokens,
                "cache_read_input_tokens": tokens.cache_read_input_tokens,
                "cache_write_5m_input_tokens": tokens.cache_creation_5m_input_tokens,
                "cache_write_1h_input_tokens": tokens.cache_creation_input_tokens
                - tokens.cache_creation_5m_input_tokens,
                "output_tokens": tokens.output_tokens,
                "input_mtok": _rate(rates, "input"),
                "cache_read_mtok": _rate(rates, "cache_read"),
                "cache_write_5m_mtok": _rate(rates, "cache_write_5m"),
                "cache_write_1h_mtok": _rate(rates, "cache_write_1h"),
                "output_mtok": _rate(rates, "output"),
                "cost_usd": _float(group.cost_usd),
                "no_cache_cost_usd": _float(group.no_cache_cost_usd),
                "saving_usd": _float(group.saving_usd),
                "unpriced_calls": group.unpriced_calls,
                "unpriced_tokens": group.unpriced_tokens,
            }
        )
    return rows


def write_costs(report: Report, book: PriceBook, fmt: OutputFormat, out: TextIO) -> None:
    """Write the cost of each model (see `cost_rows`) and the total in `fmt`."""
    rows = cost_rows(report, book)
    total = {
        "calls": report.total.calls,
        "cost_usd": _float(report.total.cost_usd),
        "no_cache_cost_usd": _float(report.total.no_cache_cost_usd),
        "saving_usd": _float(report.total.saving_usd),
        "unpriced_calls": report.total.unpriced_calls,
        "unpriced_tokens": report.total.unpriced_tokens,
    }
    if fmt == "json":
        out.write(dump_json({"models": rows, "total": total}))
        return
    if fmt == "csv":
        _write_csv(out, "model", rows, total)
        return
    headers = [
        "model",
        "calls",
        "input",
        "read",
        "write 5m",
        "write 1h",
        "output",
        "$/M in",
        "read",
        "w5m",
        "w1h",
        "out",
        "cost $",
        "no-cache $",
        "saved $",
    ]
    table = [
        [
            printable(f"{r['provider']}/{r['model']}") + ("+" if r["tiered"] else ""),
            _int(r["calls"]),
            _int(r["input_tokens"]),
            _int(r["cache_read_input_tokens"]),
            _int(r["cache_write_5m_input_tokens"]),
            _int(r["cache_write_1h_input_tokens"]),
            _int(r["output_tokens"]),
            *(
                _num(r[k])
                for k in (
                    "input_mtok",
                    "cache_read_mtok",
                    "cache_write_5m_mtok",
                    "cache_write_1h_mtok",
                    "output_mtok",
                )
            ),
            *(_cost_cell(r[k], r["unpriced_calls"]) for k in _COSTS),
        ]
        for r in rows
    ]
    blank = [""] * 11
    table.append(
        [
            "TOTAL",
            _int(report.total.calls),
            *blank[:10],
            *(_cost_cell(total[k], report.total.unpriced_calls) for k in _COSTS),
        ]
    )
    _write_table(out, headers, table)
    if any(r["tiered"] for r in rows):
        out.write("+ tiered by prompt size; base-tier rates shown, each call billed in its tier\n")
    _unpriced_note(out, report)


_COSTS = ("cost_usd", "no_cache_cost_usd", "saving_usd")


_ROW_KEYS = (
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


def write_timeline(
    rows: Iterable[TimelineRow],
    sessions: Callable[[], Sequence[SessionCache]],
    fmt: OutputFormat,
    out: TextIO,
) -> int:
    """Stream timeline rows in `fmt`; the table ends with each session's summary (taken
    from `sessions()` once the rows are exhausted). Returns the number of rows written."""
    count = 0
    if fmt == "json":
        out.write("[")
        for row in rows:
            out.write(",\n  " if count else "\n  ")
            out.write(msgspec.json.encode(row.as_dict()).decode())
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_ROW_KEYS)
        for row in rows:
            values = row.as_dict()
            writer.writerow(["" if values[k] is None else values[k] for k in _ROW_KEYS])
            count += 1
        return count
    line = "{:>6} {:<24} {:>9} {:>10} {:>10} {:>10} {:>10} {:>6}  {:<14} {:>5} {:>9}\n"
    current = None
    for row in rows:
        if row.session_id != current:
            current = row.session_id
            out.write(f"\nsession {printable(current)}\n")
            out.write(
                line.format(
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
            )
        out.write(
            line.format(
                row.index,
                ts_text(row.ts),
                _gap(row.gap_s),
                _int(row.tokens.prompt_tokens),
                _int(row.tokens.input_tokens),
                _int(row.tokens.cache_read_input_tokens),
                _int(row.tokens.cache_creation_input_tokens),
                _pct(row.cache_hit_ratio),
                row.reason or "",
                "" if row.rounds_to_warm is None else row.rounds_to_warm,
                "" if row.extra_cost_usd is None else _usd(row.extra_cost_usd),
            ).rstrip()
            + "\n"
        )
        count += 1
    for session in sessions():
        out.write(f"\n{session_line(session)}\n")
    return count


def session_line(session: SessionCache) -> str:
    """A session's cache summary in one line, for people (names escaped)."""
    reasons = ", ".join(f"{k} {v}" for k, v in session.reasons.items() if v)
    mean = session.mean_rounds_to_warm
    never = session.never_warm_again
    extra = session.extra_cost_usd
    unpriced = session.unpriced_cold_rounds
    cost = "?" if extra is None else f"${_usd(extra)}"
    if unpriced and extra is not None:
        cost += f" (and {unpriced} cold rounds without a known price)"
    return (
        f"session {printable(session.session_id)}: {session.calls} calls, "
        f"{session.cold_rounds} cold ({reasons or 'none'}); {session.ttl_label}; warm again "
        f"after {'-' if mean is None else f'{mean:.1f}'} rounds on average"
        f"{f', never for {never}' if never else ''}; cold rounds cost {cost} extra"
    )


def _write_csv(out: TextIO, kind: str, rows: list[dict[str, Any]], total: dict[str, Any]) -> None:
    keys = list(rows[0]) if rows else list(total)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", *keys])
    for values in [*rows, total]:
        label = kind if values is not total else "total"
        writer.writerow([label, *(_csv(values.get(key)) for key in keys)])


def _csv(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return value


def _write_table(out: TextIO, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip() + "\n"

    out.write(fmt(headers))
    out.write(fmt(["-" * w for w in widths]))
    for row in rows:
        out.write(fmt(row))


def _int(value: int) -> str:
    # Python ints: exact at any size.
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _usd(value: Decimal | float | None) -> str:
    return "?" if value is None else f"{value:,.4f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _gap(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _rate(rates: Any, name: str) -> float | None:
    return None if rates is None else float(getattr(rates, name))
