"""Pictures of a session's cache timeline: the prompt of each round split into fresh
input, cache reads and cache writes, the hit ratio over it, and the cold rounds marked by
reason. `plot_overview` (in `_overview`) draws a whole tree in one picture.

matplotlib is an optional extra (`otel-token-usage[plot]`), imported only here and only
when a picture is asked for. Figures are drawn on the Agg canvas directly, never through
pyplot, so no global backend or figure state is touched; each is saved and dropped
before the next is drawn.

Memory: a session's rounds are kept (five numbers each, at most `last` of them) until
its summary comes (`timeline_items` gives it at the end of the session's log), then
drawn and let go; so a sessions tree is drawn one session at a time. A session of more
than 400 rounds is drawn in at most 400 bars of consecutive rounds (their mean prompt
split and their hit ratio), with a strip below that counts each bar's cold rounds by
reason, so that 20,000 calls still read as a picture, not as a black block.
"""

from __future__ import annotations

import gc
import html
import io
import re
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from otel_token_usage._util import printable

from ._reader import AnalysisError
from ._timeline import REASONS, SessionCache, TimelineRow

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLOT_SUFFIXES", "Pictures", "figure_class", "plot_timelines", "title_text"]

PLOT_SUFFIXES = (".png", ".svg", ".html")
_BAR_LIMIT = 400
_COLLECT_EVERY = 8
_COLORS = {"fresh": "#8da0cb", "read": "#66c2a5", "write": "#fc8d62", "ratio": "#1b1b1b"}
_MARKS = {
    "first_call": ("#7f7f7f", "o"),
    "compression": ("#d62728", "v"),
    "ttl_expired": ("#9467bd", "s"),
    "prefix_change": ("#e6ab02", "D"),
}


class _Round(NamedTuple):
    # What a picture needs of a timeline row.
    number: int
    fresh: int
    read: int
    write: int
    ratio: float | None
    reason: str | None


def plot_timelines(
    items: Iterable[TimelineRow | SessionCache],
    output: str | Path,
    *,
    threshold: float,
    last: int | None = None,
    per_session: bool = True,
) -> Iterator[Path]:
    """Draw the timeline of each session in `items` (as `timeline_items` or
    `CacheTimeline.rows` gives them) into `output` (.png, .svg or .html); yields each
    file as it is written.

    `per_session`: PNG/SVG files named `<stem>-<session><suffix>` beside `output` (a
    second picture of the same name gets `-2`, ...); otherwise exactly `output`, which
    then holds the first session only. HTML: one page with every session. `last`: only
    the last N rounds of each session. Raises `AnalysisError` for an unknown suffix, when
    matplotlib is not installed, or when there is nothing to draw.
    """
    pictures = Pictures(output, per_session=per_session)
    rounds: dict[str, deque[_Round]] = {}
    drawn = 0
    with pictures:
        for item in items:
            if isinstance(item, TimelineRow):
                kept = rounds.get(item.session_id)
                if kept is None:
                    kept = rounds[item.session_id] = deque(maxlen=last)
                kept.append(_round(item))
                continue
            kept = rounds.pop(item.session_id, None)
            if kept:
                figure = _draw(item.session_id, kept, item, threshold)
                if path := pictures.add(f"session {item.session_id}", item.session_id, figure):
                    yield path
                drawn += 1
        for session, kept in rounds.items():  # rows that came without their summary
            if path := pictures.add(
                f"session {session}", session, _draw(session, kept, None, threshold)
            ):
                yield path
            drawn += 1
        if not drawn:
            raise AnalysisError("nothing to plot: no calls selected")
        if path := pictures.finish():
            yield path


def _round(row: TimelineRow) -> _Round:
    tokens = row.tokens
    return _Round(
        row.index,
        tokens.input_tokens,
        tokens.cache_read_input_tokens,
        tokens.cache_creation_input_tokens,
        row.cache_hit_ratio,
        row.reason,
    )


class Pictures:
    """Where figures go: one file (`per_session` False), one file per picture named
    after it, or one HTML page that is written as the figures come."""

    def __init__(self, output: str | Path, *, per_session: bool) -> None:
        self.target = Path(output)
        self.suffix = self.target.suffix.lower()
        if self.suffix not in PLOT_SUFFIXES:
            raise AnalysisError(f"{self.target}: the picture must be .png, .svg or .html")
        self._per_session = per_session
        self._names: set[str] = set()
        self._page: io.TextIOWrapper | None = None
        self._count = 0

    def __enter__(self) -> Pictures:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._page is not None:
            self._page.close()
            self._page = None

    def add(self, heading: str, name: str, figure: Figure) -> Path | None:
        """Save `figure` (then let it go): as the file named after `name`, or as a
        section of the page headed `heading`. Returns the file written, if a new one."""
        self._count += 1
        try:
            if self.suffix == ".html":
                self._html_section(heading, figure)
                return None
            if not self._per_session and self._count > 1:
                return None  # exactly `output`: the first picture only
            path = self._path(name) if self._per_session else self.target
            figure.savefig(path, format=self.suffix[1:])
            return path
        finally:
            figure.clear()
            # A figure is a web of cycles: free them every few pictures (each collection
            # costs about as much as drawing a fifth of a picture).
            if self._count % _COLLECT_EVERY == 0:
                gc.collect()

    def finish(self) -> Path | None:
        """End the HTML page and return it (None for other pictures)."""
        if self._page is None:
            return None
        self._page.write("</body></html>\n")
        self._page.close()
        self._page = None
        return self.target

    def _path(self, name: str) -> Path:
        stem = f"{self.target.stem}-{_safe(name)}"
        unique, number = stem, 1
        while unique in self._names:
            number += 1
            unique = f"{stem}-{number}"
        self._names.add(unique)
        return self.target.with_name(unique + self.target.suffix)

    def _html_section(self, heading: str, figure: Figure) -> None:
        if self._page is None:
            self._page = self.target.open("w", encoding="utf-8")
            self._page.write(
                "<!doctype html>\n<html><head><meta charset='utf-8'><title>token-usage"
                "</title><style>body{font-family:sans-serif;margin:1em}svg{max-width:100%;"
                "height:auto}</style></head><body>\n"
            )
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        svg = buffer.getvalue()
        self._page.write(
            f"<section><h2>{html.escape(heading)}</h2>\n{svg[svg.find('<svg') :]}\n</section>\n"
        )


def figure_class() -> type[Figure]:
    """A `Figure` on its own Agg canvas; `AnalysisError` without matplotlib."""
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


def title_text(text: str) -> str:
    """`text` fit for a matplotlib title: control characters escaped, and `$` (which
    would start math mode) escaped too."""
    return printable(text).replace("$", r"\$")


def _draw(
    session: str, kept: deque[_Round], summary: SessionCache | None, threshold: float
) -> Figure:
    rounds = list(kept)
    size = -(-len(rounds) // _BAR_LIMIT)  # rounds per bar: 1 up to the limit
    bins = [rounds[start : start + size] for start in range(0, len(rounds), size)]
    x = [(part[0].number + part[-1].number) / 2 for part in bins]
    width_in = min(max(8.0, len(x) * 0.12), 20.0)
    height_in = 5.0 if size == 1 else 6.2
    figure = figure_class()(figsize=(width_in, height_in), dpi=110)
    # Fixed margins in inches (cheaper than a layout engine): labels left, legend right.
    figure.subplots_adjust(
        left=0.95 / width_in,
        right=1 - 2.75 / width_in,
        bottom=0.6 / height_in,
        top=1 - 0.4 / height_in,
        hspace=0.08,
    )
    strip: Axes | None = None
    if size == 1:
        axes = figure.add_subplot()
    else:
        grid = figure.add_gridspec(2, 1, height_ratios=[4.0, 1.1])
        axes = figure.add_subplot(grid[0])
        strip = figure.add_subplot(grid[1], sharex=axes)
    means = [
        [sum(getattr(r, kind) for r in part) / len(part) for part in bins]
        for kind in ("fresh", "read", "write")
    ]
    _stack(
        axes,
        x,
        size,
        [
            (means[0], _COLORS["fresh"], "fresh input"),
            (means[1], _COLORS["read"], "cache read"),
            (means[2], _COLORS["write"], "cache write"),
        ],
    )
    axes.xaxis.set_major_locator(_whole_numbers())
    axes.set_ylabel("prompt tokens" if size == 1 else f"prompt tokens\n(mean of {size} rounds)")
    axes.set_xlim(rounds[0].number - 0.7 * size, rounds[-1].number + 0.7 * size)
    axes.ticklabel_format(axis="y", style="plain")
    axes.yaxis.set_major_formatter(_thousands())
    ratio_axes = axes.twinx()
    ratio_axes.plot(
        x,
        [_ratio(part) for part in bins],
        color=_COLORS["ratio"],
        linewidth=1.2,
        marker="." if len(x) <= 200 else None,
        label="hit ratio" if size == 1 else f"hit ratio of {size} rounds",
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
    panels = [axes, ratio_axes]
    if strip is None:
        _mark_cold(ratio_axes, rounds)
        axes.set_xlabel("round (call)")
    else:
        _cold_strip(strip, bins, x, size)
        axes.tick_params(labelbottom=False)
        strip.set_xlabel(f"round (call); each bar: {size} rounds")
        panels.append(strip)
    handles: list[Any] = []
    labels: list[str] = []
    for panel in panels:
        more_handles, more_labels = panel.get_legend_handles_labels()
        handles += more_handles
        labels += more_labels
    figure.legend(
        handles,
        labels,
        loc="upper right",
        bbox_to_anchor=(1 - 0.1 / width_in, 1 - 0.4 / height_in),
        fontsize=8,
        frameon=False,
    )
    axes.set_title(title_text(_title(session, rounds, summary)), fontsize=10)
    return figure


def _ratio(part: list[_Round]) -> float:
    # The hit ratio of a bar's rounds (NaN, a gap in the line, without a prompt).
    if len(part) == 1:
        ratio = part[0].ratio
        return float("nan") if ratio is None else ratio
    read = sum(r.read for r in part)
    prompt = read + sum(r.fresh + r.write for r in part)
    return read / prompt if prompt else float("nan")


_SEPARATE_BARS = 100


def _stack(
    axes: Axes, x: list[float], size: int, series: list[tuple[list[float], str, str]]
) -> list[float]:
    # Stacked bars, one series on the other; returns the top of the stack. Up to 100
    # bars each is its own rectangle, with a gap; past that each series is one stepped
    # area (thousands of rectangles took seconds to draw).
    below = [0.0] * len(x)
    edges = [x[0] - size / 2, *(value + size / 2 for value in x)]
    for values, color, label in series:
        if not any(values):
            continue
        top = [b + v for b, v in zip(below, values, strict=True)]
        if len(x) <= _SEPARATE_BARS:
            axes.bar(x, values, width=0.85 * size, bottom=below, color=color, label=label)
        else:
            axes.stairs(top, edges, baseline=below, fill=True, color=color, label=label)
        below = top
    return below


def _mark_cold(axes: Axes, rounds: list[_Round]) -> None:
    # A marker at each cold round's hit ratio, its shape and colour by reason.
    for reason in REASONS:
        marked = [r for r in rounds if r.reason == reason]
        if not marked:
            continue
        color, marker = _MARKS[reason]
        axes.scatter(
            [r.number for r in marked],
            [r.ratio or 0.0 for r in marked],
            s=60 if len(rounds) <= 100 else 30,
            color=color,
            marker=marker,
            edgecolors="black",
            linewidths=0.5,
            zorder=5,
            label=f"cold: {reason} ({len(marked):,})",
        )


def _cold_strip(strip: Axes, bins: list[list[_Round]], x: list[float], size: int) -> None:
    # For binned rounds: how many of each bar's rounds were cold, stacked by reason.
    series = []
    for reason in REASONS:
        counts = [float(sum(1 for r in part if r.reason == reason)) for part in bins]
        total = int(sum(counts))
        if total:
            series.append((counts, _MARKS[reason][0], f"cold: {reason} ({total:,})"))
    top = _stack(strip, x, size, series)
    strip.set_ylabel("cold rounds", fontsize=8)
    strip.set_ylim(0, max(max(top, default=0.0), 1.0) * 1.1)
    strip.yaxis.set_major_locator(_whole_numbers())


def _title(session: str, rounds: list[_Round], summary: SessionCache | None) -> str:
    calls = summary.calls if summary is not None else len(rounds)
    title = f"session {session}: {calls:,} calls"
    if len(rounds) < calls:
        title += f", rounds {rounds[0].number:,}-{rounds[-1].number:,} shown"
    if summary is not None:
        title += f", {summary.cold_rounds:,} cold, {summary.ttl_label}"
    return title


def _whole_numbers() -> Any:
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - optional extra

    return MaxNLocator(integer=True)  # rounds are calls: no tick at 2.5


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415 - optional extra

    return FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def _safe(session: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", session)[:100] or "session"
