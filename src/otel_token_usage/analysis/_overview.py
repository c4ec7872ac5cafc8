"""One picture of a whole sessions tree: cost and cache-hit ratio per UTC day, and the
costliest sessions with their hit ratio.

It is drawn from a `Report` (`summarize`), so it costs what `report` costs: the logs
are folded in constant memory (in worker processes for a large tree), and the picture
holds a bar per day and one per session shown, whatever the number of calls. Costs are
those of the calls with a known price; when no call has one, the bars show prompt tokens
instead, and the labels say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._line import utc_day
from ._plot import Pictures, figure_class, title_text
from ._reader import AnalysisError
from ._summary import Report, Summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_TOP", "plot_overview"]

DEFAULT_TOP = 20
"""Sessions shown by name in the overview; the others share one bar."""
_RATIO_COLORS = "RdYlGn"
_OTHERS = "#b0b0b0"
_LABEL_WIDTH = 36


def plot_overview(report: Report, output: str | Path, *, top: int | None = None) -> Path:
    """Draw `report` (grouped by session; see `summarize`) into `output` (.png, .svg or
    .html): per UTC day the cost and the hit ratio, and the `top` costliest sessions
    (default 20) with theirs, the others summed in one bar. Returns the file written.
    Raises `AnalysisError` for an unknown suffix or without matplotlib."""
    by_session = report if report.by == "session" else report.regroup("session")
    pictures = Pictures(output, per_session=False)
    with pictures:
        figure = _draw(by_session, top or DEFAULT_TOP)
        pictures.add("Overview", "overview", figure)
        pictures.finish()
    return pictures.target


def _draw(report: Report, top: int) -> Figure:
    if not report.total.calls:
        raise AnalysisError("nothing to plot: no calls selected")
    priced = report.total.unpriced_calls < report.total.calls
    shown = report.top(top)
    drawn = {id(group) for group in shown.groups}
    others = [group for group in report.groups if id(group) not in drawn]
    rows = len(shown.groups) + (1 if others else 0)
    figure = figure_class()(figsize=(12.0, 4.2 + 0.34 * max(rows, 3)), dpi=110)
    grid = figure.add_gridspec(2, 1, height_ratios=[3.4, 0.34 * max(rows, 3) + 0.6])
    _per_day(figure.add_subplot(grid[0]), report.regroup("day"), priced=priced)
    _per_session(figure, figure.add_subplot(grid[1]), shown, others, priced=priced)
    figure.suptitle(title_text(_title(report, priced=priced)), fontsize=11)
    figure.tight_layout()
    return figure


def _measure(summary: Summary, *, priced: bool) -> float:
    return float(summary.cost) if priced else float(summary.tokens.prompt_tokens)


def _money(value: float, *, priced: bool) -> str:
    if not priced:
        return f"{value:,.0f} tokens"
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def _per_day(axes: Axes, days: Report, *, priced: bool) -> None:
    labels = [group.day or "?" for group in days.groups]
    x = list(range(len(labels)))
    axes.bar(x, [_measure(g, priced=priced) for g in days.groups], color="#8da0cb", width=0.8)
    axes.set_ylabel("cost (USD)" if priced else "prompt tokens")
    if not priced:
        axes.yaxis.set_major_formatter(_thousands())
    what = "cost" if priced else "prompt tokens"
    axes.set_title(f"per UTC day: {what} (bars) and cache hit ratio (line)", fontsize=10)
    step = max(1, len(labels) // 16)
    axes.set_xticks(x[::step], labels[::step], rotation=30 if len(labels) > 6 else 0, fontsize=8)
    pad = max(0.6, (7 - len(labels)) / 2)  # a few days keep a bar's width, centred
    axes.set_xlim(-pad, len(labels) - 1 + pad)
    ratio_axes = axes.twinx()
    ratio_axes.plot(
        x,
        [float("nan") if g.cache_hit_ratio is None else g.cache_hit_ratio for g in days.groups],
        color="#1b1b1b",
        marker="o" if len(x) <= 60 else None,
        markersize=4,
        linewidth=1.4,
    )
    ratio_axes.set_ylim(0, 1.05)
    ratio_axes.set_ylabel("cache hit ratio")
    ratio_axes.yaxis.set_major_formatter(_percent())


def _per_session(
    figure: Figure, axes: Axes, shown: Report, others: list[Summary], *, priced: bool
) -> None:
    from matplotlib import colormaps  # noqa: PLC0415 - optional extra
    from matplotlib.cm import ScalarMappable  # noqa: PLC0415
    from matplotlib.colors import Normalize  # noqa: PLC0415

    colors = colormaps[_RATIO_COLORS]
    names: list[str] = []
    values: list[float] = []
    fills: list[object] = []
    notes: list[str] = []
    for group in shown.groups:
        names.append(_short(title_text(group.session_id or "?")))
        values.append(_measure(group, priced=priced))
        ratio = group.cache_hit_ratio
        fills.append(_OTHERS if ratio is None else colors(ratio))
        notes.append(_note(group, priced=priced))
    if others:
        rest = Summary()
        for group in others:
            rest.calls += group.calls
            rest.tokens.add(group.tokens)
            rest.cost += group.cost
    y = list(range(len(names)))
    axes.barh(y, values, color=fills, height=0.7, edgecolor="#404040", linewidth=0.4)
    widest = max(values, default=0.0) or 1.0
    for position, value, note in zip(y, values, notes, strict=True):
        axes.text(value + widest * 0.01, position, note, va="center", fontsize=7.5)
    if others:
        # Their sum would dwarf every bar: said in words, on a row of its own.
        names.append(f"{len(others):,} other sessions")
        y.append(len(y))
        axes.text(
            0,
            y[-1],
            f" together {_note(rest, priced=priced)}",
            va="center",
            fontsize=7.5,
            color="#404040",
        )
    axes.set_yticks(y, names, fontsize=8)
    axes.set_ylim(len(y) - 0.4, -0.6)  # costliest on top
    axes.set_xlim(0, widest * 1.45)  # room for the notes
    what = "cost (USD)" if priced else "prompt tokens"
    axes.set_xlabel(what)
    count = len(shown.groups)
    most = "costliest" if priced else "largest"
    which = f"the {count} {most} sessions" if count > 1 else f"the {most} session"
    if not priced:
        which += " by prompt (no prices)"
    axes.set_title(f"{which}, coloured by cache hit ratio", fontsize=10)
    if not priced:
        axes.xaxis.set_major_formatter(_thousands())
    scale = ScalarMappable(norm=Normalize(0, 1), cmap=colors)
    bar = figure.colorbar(scale, ax=axes, fraction=0.025, pad=0.01)
    bar.set_label("cache hit ratio", fontsize=8)
    bar.ax.yaxis.set_major_formatter(_percent())


def _note(group: Summary, *, priced: bool) -> str:
    ratio = group.cache_hit_ratio
    hit = "-" if ratio is None else f"{ratio:.0%}"
    return (
        f"{_money(_measure(group, priced=priced), priced=priced)}  hit {hit}  {group.calls:,} calls"
    )


def _title(report: Report, *, priced: bool) -> str:
    total = report.total
    ratio = total.cache_hit_ratio
    span = ""
    if total.first_ts is not None and total.last_ts is not None:
        first, last = utc_day(total.first_ts), utc_day(total.last_ts)
        span = f", {first}" + (f" to {last}" if last != first else "")
    cost = "cost " + _money(_measure(total, priced=priced), priced=priced)
    if not priced:
        cost = f"{_money(_measure(total, priced=False), priced=False)} of prompt (no prices)"
    elif total.unpriced_calls:
        cost += f" (priced calls; {total.unpriced_calls:,} calls have no price)"
    hit = "-" if ratio is None else f"{ratio:.1%}"
    return (
        f"{len(report.groups):,} sessions, {total.calls:,} calls{span}: {cost}, "
        f"cache hit ratio {hit}"
    )


def _short(name: str) -> str:
    return name if len(name) <= _LABEL_WIDTH else name[: _LABEL_WIDTH - 1] + "…"


def _thousands() -> Any:
    from matplotlib.ticker import StrMethodFormatter  # noqa: PLC0415 - optional extra

    return StrMethodFormatter("{x:,.0f}")


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter  # noqa: PLC0415 - optional extra

    return PercentFormatter(1.0, decimals=0)
