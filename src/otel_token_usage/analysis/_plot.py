"""Pictures of the cache timeline: per session, the prompt of each round split into fresh
input, cache reads and cache writes, the hit ratio over it, and the cold rounds marked by
reason.

matplotlib is an optional extra (`otel-token-usage[plot]`), imported only here and only
when a picture is asked for. Figures are drawn on the Agg canvas directly, never through
pyplot, so no global backend or figure state is touched.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_token_usage._util import printable

from ._reader import AnalysisError
from ._timeline import REASONS, SessionCache, TimelineRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOT_SUFFIXES", "plot_timelines"]

PLOT_SUFFIXES = (".png", ".svg", ".html")
_BAR_LIMIT = 400
_COLORS = {"fresh": "#8da0cb", "read": "#66c2a5", "write": "#fc8d62", "ratio": "#1b1b1b"}
_MARKS = {
    "first_call": ("#7f7f7f", "o"),
    "compression": ("#d62728", "v"),
    "ttl_expired": ("#9467bd", "s"),
    "prefix_change": ("#e6ab02", "D"),
}


def plot_timelines(
    rows: Iterable[TimelineRow],
    sessions: dict[str, SessionCache],
    output: str | Path,
    *,
    threshold: float,
) -> list[Path]:
    """Draw one picture per session of `rows` into `output` (.png, .svg or .html).

    One session: exactly `output`. Several: PNG/SVG files named `<stem>-<session><suffix>`
    beside it, or one HTML page with every session. Returns the files written. Raises
    `AnalysisError` for an unknown suffix or when matplotlib is not installed.
    """
    target = Path(output)
    suffix = target.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise AnalysisError(f"{target}: the picture must be .png, .svg or .html")
    figure_class = _figure_class()
    by_session: dict[str, list[TimelineRow]] = {}
    for row in rows:
        by_session.setdefault(row.session_id, []).append(row)
    if not by_session:
        raise AnalysisError("nothing to plot: no calls in the input")
    figures = {
        session: _draw(
            figure_class,
            session,
            sorted(items, key=lambda r: r.index),
            sessions.get(session),
            threshold,
        )
        for session, items in by_session.items()
    }
    if suffix == ".html":
        _write_html(target, figures)
        return [target]
    if len(figures) == 1:
        next(iter(figures.values())).savefig(target, format=suffix[1:])
        return [target]
    written = []
    for session, figure in figures.items():
        path = target.with_name(f"{target.stem}-{_safe(session)}{target.suffix}")
        figure.savefig(path, format=suffix[1:])
        written.append(path)
    return written


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        raise AnalysisError(
            "plotting needs matplotlib: pip install 'otel-token-usage[plot]'"
        ) from None

    class AggFigure(Figure):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            FigureCanvasAgg(self)

    return AggFigure


def _draw(
    figure_class: type[Figure],
    session: str,
    rows: list[TimelineRow],
    summary: SessionCache | None,
    threshold: float,
) -> Figure:
    count = len(rows)
    figure = figure_class(figsize=(min(max(8.0, count * 0.12), 24.0), 4.8), dpi=110)
    axes = figure.add_subplot()
    x = [row.index for row in rows]
    fresh = [row.tokens.input_tokens for row in rows]
    read = [row.tokens.cache_read_input_tokens for row in rows]
    write = [row.tokens.cache_creation_input_tokens for row in rows]
    below_write = [f + r for f, r in zip(fresh, read, strict=True)]
    if count <= _BAR_LIMIT:
        axes.bar(x, fresh, width=0.85, color=_COLORS["fresh"], label="fresh input")
        axes.bar(x, read, width=0.85, bottom=fresh, color=_COLORS["read"], label="cache read")
        axes.bar(
            x, write, width=0.85, bottom=below_write, color=_COLORS["write"], label="cache write"
        )
    else:
        axes.stackplot(
            x,
            fresh,
            read,
            write,
            step="mid",
            colors=[_COLORS["fresh"], _COLORS["read"], _COLORS["write"]],
            labels=["fresh input", "cache read", "cache write"],
        )
    axes.set_xlabel("round (call)")
    axes.xaxis.set_major_locator(_whole_numbers())
    axes.set_ylabel("prompt tokens")
    axes.set_xlim(0.3, max(x) + 0.7)
    axes.ticklabel_format(axis="y", style="plain")
    axes.yaxis.set_major_formatter(_thousands())
    ratio_axes = axes.twinx()
    ratios = [row.cache_hit_ratio for row in rows]
    ratio_axes.plot(
        x,
        [float("nan") if r is None else r for r in ratios],
        color=_COLORS["ratio"],
        linewidth=1.4,
        marker="." if count <= 200 else None,
        label="hit ratio",
    )
    ratio_axes.axhline(
        threshold,
        color=_COLORS["ratio"],
        linestyle=":",
        linewidth=0.8,
        label=f"cold under {threshold:.0%}",
    )
    ratio_axes.set_ylim(-0.05, 1.12)
    ratio_axes.set_ylabel("cache hit ratio")
    for reason in REASONS:
        marked = [row for row in rows if row.reason == reason]
        if marked:
            color, marker = _MARKS[reason]
            ratio_axes.scatter(
                [row.index for row in marked],
                [row.cache_hit_ratio or 0.0 for row in marked],
                s=70,
                color=color,
                marker=marker,
                edgecolors="black",
                linewidths=0.6,
                zorder=5,
                label=f"cold: {reason}",
            )
    handles, labels = axes.get_legend_handles_labels()
    more_handles, more_labels = ratio_axes.get_legend_handles_labels()
    ratio_axes.legend(
        handles + more_handles,
        labels + more_labels,
        loc="upper left",
        bbox_to_anchor=(1.07, 1.0),
        fontsize=8,
        frameon=False,
    )
    title = f"session {printable(session)}: {count} calls"
    if summary is not None:
        title += f", {summary.cold_rounds} cold, {summary.ttl_label}"
    # A `$` would start matplotlib's math mode; the title is plain text.
    axes.set_title(title.replace("$", r"\$"), fontsize=10)
    figure.tight_layout()
    return figure


def _whole_numbers() -> Any:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - optional extra

    return MaxNLocator(integer=True)  # rounds are calls: no tick at 2.5


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415 - optional extra

    return FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def _write_html(target: Path, figures: dict[str, Figure]) -> None:
    parts = [
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>token-usage cache "
        "timeline</title><style>body{font-family:sans-serif;margin:1em}svg{max-width:100%;"
        "height:auto}</style></head><body>\n<h1>Cache timeline</h1>\n"
    ]
    for session, figure in figures.items():
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        svg = buffer.getvalue()
        svg = svg[svg.find("<svg") :]
        parts.append(f"<section><h2>session {html.escape(session)}</h2>\n{svg}\n</section>\n")
    parts.append("</body></html>\n")
    target.write_text("".join(parts), encoding="utf-8")


def _safe(session: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", session)[:100] or "session"
