"""Pictures of the cache timeline, and the progress bar's terminal-only behaviour."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from otel_token_usage.analysis import (
    AnalysisError,
    CacheTimeline,
    find_logs,
    plot_timelines,
    read_calls,
)
from otel_token_usage.analysis._progress import Progress

from .helpers import log_line


def rec(ts: str, session: str, *, fresh: int, read: int = 0, write: int = 0) -> str:
    return log_line(ts, session, fresh=fresh, read=read, write=write)


def draw(tmp_path: Path, sessions: list[str], name: str, rounds: int = 12) -> list[Path]:
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
    timeline = CacheTimeline()
    rows = list(timeline.rows(read_calls(find_logs(log))))
    summaries = {s.session_id: s for s in timeline.sessions}
    return plot_timelines(rows, summaries, tmp_path / name, threshold=0.5)


def test_one_session_png_is_written_to_the_given_file(tmp_path: Path) -> None:
    """One session gives exactly the requested PNG."""
    (written,) = draw(tmp_path, ["s1"], "out.png")
    assert written == tmp_path / "out.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_several_sessions_get_one_file_each_or_one_page(tmp_path: Path) -> None:
    """PNG/SVG: one file per session named after it; HTML: one page with every session."""
    written = draw(tmp_path, ["a", "b/c"], "cache.svg")
    assert written == [tmp_path / "cache-a.svg", tmp_path / "cache-b_c.svg"]
    assert all("<svg" in path.read_text() for path in written)
    (page,) = draw(tmp_path, ["a", "b"], "cache.html")
    text = page.read_text()
    assert text.count("<section>") == 2 and "session b" in text


def test_long_sessions_are_drawn_as_areas(tmp_path: Path) -> None:
    """Past a few hundred rounds the bars become a stacked area; the file is still written."""
    (written,) = draw(tmp_path, ["long"], "long.png", rounds=450)
    assert written.stat().st_size > 0


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
