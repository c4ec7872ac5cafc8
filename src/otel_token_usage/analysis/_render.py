"""Writing reports and cost tables as a table (for people), JSON or CSV.

JSON and CSV carry every field at full precision: counts are exact integers however large.
JSON has the same top-level keys whatever `by` is (see `_output.envelope`), and every row
has the same keys (a label that is not the grouping is null). The table rounds for
reading and shows names from the logs with their control characters escaped, so log
content never drives the terminal. Costs are those of the calls with a known price;
where some calls have none, the table marks the cost with `*` and says below how many
calls and tokens are left out, and JSON and CSV give `unpriced_calls` and
`unpriced_tokens`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from otel_token_usage._util import printable
from otel_token_usage.pricing import PriceBook
from otel_token_usage.record import TOKEN_KINDS, TokenCounts

from ._line import utc_day
from ._output import Out, dump_json, fmt_int, fmt_pct, fmt_usd, write_csv, write_table
from ._summary import GroupBy, Report, Summary

__all__ = ["OutputFormat", "cost_rows", "write_costs", "write_report"]

OutputFormat = Literal["table", "json", "csv"]
_LABELS = TokenCounts.labels()
_UNPRICED_MARK = "*"
_PLURAL: dict[GroupBy, str] = {"session": "sessions", "model": "models", "day": "days"}


def write_report(report: Report, fmt: OutputFormat, out: Out) -> None:
    """Write `report` in `fmt`; JSON is `Report.as_dict()`."""
    if fmt == "json":
        out.write(dump_json(report.as_dict()))
        return
    if fmt == "csv":
        _write_rows_csv(
            out, report.by, [g.as_dict() for g in report.groups], report.total.as_dict()
        )
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
    rows = [[label(g, report.by), *_summary_cells(g)] for g in report.groups]
    rows.append(["TOTAL", *_summary_cells(report.total)])
    write_table(out, headers, rows)
    _notes(out, report)


def label(summary: Summary, by: GroupBy) -> str:
    """The group's name, for people (control characters escaped)."""
    if by == "model":
        return printable(f"{summary.provider}/{summary.model}")
    if by == "day":
        return summary.day or "?"
    return printable(summary.session_id or "?")


def _summary_cells(s: Summary) -> list[str]:
    tokens = s.tokens
    return [
        fmt_int(s.calls),
        *(fmt_int(getattr(tokens, kind)) for kind in TOKEN_KINDS),
        fmt_int(tokens.prompt_tokens),
        fmt_pct(s.cache_hit_ratio),
        "-" if s.cache_write_payback is None else f"{s.cache_write_payback:.1f}x",
        fmt_pct(s.thinking_share),
        *(_cost_cell(value, s.unpriced_calls) for value in (s.cost_usd, s.no_cache_cost_usd)),
        _cost_cell(s.saving_usd, s.unpriced_calls),
        fmt_int(s.bad_lines),
    ]


def _cost_cell(value: Decimal | float | None, unpriced_calls: int) -> str:
    if value is None:
        return "?"
    return fmt_usd(value) + (_UNPRICED_MARK if unpriced_calls else "")


def _notes(out: Out, report: Report) -> None:
    # Under the table: what `--top` left out, and the calls without a price.
    if report.top_n is not None:
        shown = len(report.groups)
        out.write(
            f"the {shown} costliest of {fmt_int(shown + report.omitted)} "
            f"{_PLURAL[report.by]} (--top {report.top_n}); TOTAL is of all of them\n"
        )
    total = report.total
    if not total.unpriced_calls:
        return
    models = ", ".join(
        printable(f"{provider}/{model}") for provider, model in sorted(report.unknown_prices)
    )
    out.write(
        f"{_UNPRICED_MARK} priced calls only: {fmt_int(total.unpriced_calls)} calls "
        f"({fmt_int(total.unpriced_tokens)} tokens) have no known price ({models}); "
        "? = none has one\n"
    )


_RATES = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")


def _cost_row(group: Summary, book: PriceBook | None) -> dict[str, Any]:
    # One row of `cost_rows`: the rates only for a model (`book` given), else null.
    price = None
    if book is not None and group.model is not None:
        day = utc_day(group.last_ts) if group.last_ts is not None else "1970-01-01"
        price = book.price(group.provider or "", group.model, day)
    rates = price.tiers[0] if price is not None else None
    tokens = group.tokens
    return {
        "session_id": group.session_id,
        "day": group.day,
        "provider": group.provider,
        "model": group.model,
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
        **{
            f"{rate}_mtok": None if rates is None else float(getattr(rates, rate))
            for rate in _RATES
        },
        "cost_usd": _float(group.cost_usd),
        "no_cache_cost_usd": _float(group.no_cache_cost_usd),
        "saving_usd": _float(group.saving_usd),
        "unpriced_calls": group.unpriced_calls,
        "unpriced_tokens": group.unpriced_tokens,
    }


def cost_rows(report: Report, book: PriceBook) -> list[dict[str, Any]]:
    """Per group of `report`: tokens by kind, cost, cost without cache and saving; for a
    `by="model"` report also the rates in force on the model's last day (USD per million
    tokens, base tier), null otherwise. Every row has the same keys."""
    per_model = book if report.by == "model" else None
    return [_cost_row(group, per_model) for group in report.groups]


def write_costs(report: Report, book: PriceBook, fmt: OutputFormat, out: Out) -> None:
    """Write the cost of each group (see `cost_rows`) and the total in `fmt`. JSON is
    `Report.as_dict("cost")` with these rows as `groups` and the total in the same shape."""
    rows = cost_rows(report, book)
    total = _cost_row(report.total, None)
    if fmt == "json":
        data = report.as_dict("cost")
        data["groups"] = rows
        data["total"] = total
        out.write(dump_json(data))
        return
    if fmt == "csv":
        _write_rows_csv(out, report.by, rows, total)
        return
    by_model = report.by == "model"
    headers = [report.by, "calls", "input", "read", "write 5m", "write 1h", "output"]
    if by_model:
        headers += ["$/M in", "read", "w5m", "w1h", "out"]
    headers += ["cost $", "no-cache $", "saved $"]
    table = []
    for group, row in [*zip(report.groups, rows, strict=True), (None, total)]:
        name = "TOTAL" if group is None else label(group, report.by)
        cells = [name + ("+" if row["tiered"] else "")]
        cells += [fmt_int(row[key]) for key in _COUNT_KEYS]
        if by_model:
            cells += ["" if group is None else _num(row[f"{r}_mtok"]) for r in _RATES]
        cells += [_cost_cell(row[k], row["unpriced_calls"]) for k in _COSTS]
        table.append(cells)
    write_table(out, headers, table)
    if any(r["tiered"] for r in rows):
        out.write("+ tiered by prompt size; base-tier rates shown, each call billed in its tier\n")
    _notes(out, report)


_COUNT_KEYS = (
    "calls",
    "input_tokens",
    "cache_read_input_tokens",
    "cache_write_5m_input_tokens",
    "cache_write_1h_input_tokens",
    "output_tokens",
)
_COSTS = ("cost_usd", "no_cache_cost_usd", "saving_usd")


def _write_rows_csv(out: Out, kind: str, rows: list[dict[str, Any]], total: dict[str, Any]) -> None:
    # A `kind` column (the grouping, or `total`), then every key of the rows.
    keys = list(total)
    write_csv(
        out,
        ["kind", *keys],
        (
            [kind if values is not total else "total", *(values.get(key) for key in keys)]
            for values in [*rows, total]
        ),
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
