"""Pictures of the cache timeline, and the progress bar's terminal-only behaviour."""

from __future__ import annotations

import io
from collections import deque
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from matplotlib.patches import StepPatch

from otel_token_usage.analysis import (
    AnalysisError,
    BadLines,
    CacheTimeline,
    Filters,
    SessionCache,
    find_logs,
    plot_overview,
    plot_timelines,
    read_calls,
    summarize,
    timeline_items,
)
from otel_token_usage.analysis._overview import _draw as _overview_figure
from otel_token_usage.analysis._plot import _draw, _round
from otel_token_usage.analysis._progress import Progress

from .helpers import log_line


def rec(ts: str, session: str, *, fresh: int, read: int = 0, write: int = 0) -> str:
    return log_line(ts, session, fresh=fresh, read=read, write=write)


def draw(
    tmp_path: Path, sessions: list[str], name: str, rounds: int = 12, *, per_session: bool = True
) -> list[Path]:
    lines = []
    for session in sessions:
        for i in range(rounds):
            minute = 10 if i == 6 else 0  # a pause over the TTL halfway
            ts = f"2026-06-15T10:{i + minute:02d}:00.000Z"
            cold = i in (0, 6)
            lines.append(
                rec(
                    ts,
                    session,
                    fresh=200,
                    read=0 if cold else 4000 + 100 * i,
                    write=4000 if cold else 300,
                )
            )
    log = tmp_path / "token-usage.jsonl"
    log.write_text("".join(lines))
    items = timeline_items(find_logs(log), CacheTimeline(), BadLines())
    return list(plot_timelines(items, tmp_path / name, threshold=0.5, per_session=per_session))


def test_one_session_png_is_written_to_the_given_file(tmp_path: Path) -> None:
    """One session gives exactly the requested PNG."""
    (written,) = draw(tmp_path, ["s1"], "out.png", per_session=False)
    assert written == tmp_path / "out.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_several_sessions_get_one_file_each_or_one_page(tmp_path: Path) -> None:
    """PNG/SVG: one file per session named after it (names that clash get -2, ...); HTML:
    one page with every session."""
    written = draw(tmp_path, ["a", "b/c", "b_c"], "cache.svg")
    assert written == [
        tmp_path / "cache-a.svg",
        tmp_path / "cache-b_c.svg",
        tmp_path / "cache-b_c-2.svg",
    ]
    assert all("<svg" in path.read_text() for path in written)
    (page,) = draw(tmp_path, ["a", "b"], "cache.html")
    text = page.read_text()
    assert text.count("<section>") == 2 and "session b" in text


def rounds_of(tmp_path: Path, count: int) -> tuple[list[Any], SessionCache]:
    """`count` rounds of one session, a cold one every tenth, as the plot keeps them."""
    lines = [
        rec(
            f"2026-06-15T10:{i // 60:02d}:{i % 60:02d}.000Z",
            "s",
            fresh=100,
            read=0 if i % 10 == 0 else 4000,
            write=300,
        )
        for i in range(count)
    ]
    log = tmp_path / "token-usage.jsonl"
    log.write_text("".join(lines))
    timeline = CacheTimeline()
    rows = list(timeline.rows(read_calls(find_logs(log))))
    return [_round(row) for row in rows], timeline.sessions[0]


def test_long_sessions_are_drawn_in_bars_of_several_rounds_with_a_strip_of_cold_rounds(
    tmp_path: Path,
) -> None:
    """Past 400 rounds a bar stands for several rounds (at most 400 bars, whatever the
    length), and a strip below counts each bar's cold rounds by reason."""
    rounds, summary = rounds_of(tmp_path, 900)
    figure = _draw("s", deque(rounds), summary, 0.5)
    main, strip = figure.axes[0], figure.axes[1]
    # Fresh, read and write: one stepped area each, of 300 bars of 3 rounds.
    areas = [patch for patch in main.patches if isinstance(patch, StepPatch)]
    assert [len(area.get_data()[0]) for area in areas] == [300, 300, 300]
    # By reason, one on the other: the top of the last is each bar's count of cold rounds.
    *_, top = [patch for patch in strip.patches if isinstance(patch, StepPatch)]
    assert sum(top.get_data()[0]) == summary.cold_rounds == 90
    assert "each bar: 3 rounds" in strip.get_xlabel()
    short = _draw("s", deque(rounds[:50]), summary, 0.5)
    assert len(short.axes) == 2  # the bars and the hit ratio over them: no strip
    assert len(short.axes[0].patches) == 3 * 50


def test_last_draws_only_the_last_rounds_and_says_so(tmp_path: Path) -> None:
    """`last`: the last N rounds of each session; the title says which."""
    rounds_of(tmp_path, 120)
    items = timeline_items(find_logs(tmp_path / "token-usage.jsonl"), CacheTimeline(), BadLines())
    out = tmp_path / "last.svg"
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, to read it back
        (written,) = plot_timelines(items, out, threshold=0.5, last=20, per_session=False)
    assert written == out
    assert "session s: 120 calls, rounds 101-120 shown, 12 cold, TTL 5m" in out.read_text()


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    """Only .png, .svg and .html pictures are made."""
    with pytest.raises(AnalysisError, match=r"\.png, \.svg or \.html"):
        draw(tmp_path, ["s"], "out.pdf")


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal_and_erases_itself() -> None:
    """On a terminal the bar shows the share read and is erased at the end; elsewhere
    nothing is written."""
    terminal = Terminal()
    bar = Progress(1000, stream=terminal, delay_s=0)
    bar.advance(500)
    bar.close()
    assert "50%" in terminal.getvalue() and terminal.getvalue().endswith("\r\x1b[K")
    pipe = io.StringIO()
    quiet = Progress(1000, stream=pipe, delay_s=0)
    quiet.advance(500)
    quiet.close()
    assert pipe.getvalue() == ""


def test_the_overview_shows_days_and_the_costliest_sessions(tmp_path: Path) -> None:
    """One picture of a tree: per UTC day the cost and hit ratio, the `top` costliest
    sessions by name, the others in one line; without any price, prompt tokens instead."""
    root = tmp_path / "sessions"
    for number, model in enumerate(["claude-opus-4-8", "claude-opus-4-8", "mystery-1"]):
        (root / f"s{number}").mkdir(parents=True)
        (root / f"s{number}" / "token-usage.jsonl").write_text(
            "".join(
                log_line(
                    f"2026-06-1{5 + i}T10:00:00.000Z",
                    f"s{number}",
                    model=model,
                    fresh=100 * (number + 1),
                    read=900,
                )
                for i in range(2)
            )
        )
    figure = _overview_figure(summarize(root), 1)
    days, sessions = figure.axes[0], figure.axes[2]
    assert days.get_title() == "per UTC day: cost (bars) and cache hit ratio (line)"
    assert [label.get_text() for label in days.get_xticklabels()] == ["2026-06-15", "2026-06-16"]
    assert sessions.get_title() == "the costliest session, coloured by cache hit ratio"
    assert [label.get_text() for label in sessions.get_yticklabels()] == ["s1", "2 other sessions"]
    assert any("together" in text.get_text() for text in sessions.texts)
    assert "(priced calls; 2 calls have no price)" in figure.get_suptitle()
    unpriced = _overview_figure(summarize(root, filters=Filters(models=("mystery-1",))), 5)
    assert unpriced.axes[0].get_ylabel() == "prompt tokens"
    assert "(no prices)" in unpriced.axes[2].get_title()
    written = plot_overview(summarize(root), tmp_path / "tree.svg")
    assert written == tmp_path / "tree.svg" and "<svg" in written.read_text()
