"""Long runs show progress, wide data stays readable (issue 12, item 10, and its "done
when": a tree of 200 sessions of 500 lines). Commands run as real subprocesses, their
stderr on a pseudo-terminal, as a person runs them; peak memory is that of the whole
process tree (worker processes included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_token_usage.analysis._progress import DELAY_VARIABLE

from .helpers import run_cli
from .sessions_tree import write_sessions_tree
from .terminal import Run, run_measured, screen

AT_ONCE = {DELAY_VARIABLE: "0"}  # the bar from the first block (quick runs never show it)
BARS = {
    "report": "reading [",
    "cost": "reading [",
    "cache": "reading [",
    "validate": "checking [",
    "plot": "reading [",
}
MEMORY_LIMIT_MB = 200


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    root = tmp_path / "sessions"
    write_sessions_tree(root, 3, 40)
    return root


def run(tmp_path: Path, *args: str | Path, **options: bool) -> Run:
    return run_measured(*args, stdout=tmp_path / "stdout", env=AT_ONCE, **options)


def test_cache_shows_the_bar_on_a_terminal_only(small_tree: Path, tmp_path: Path) -> None:
    """On a terminal the bar is drawn and erased at the end; with stderr a pipe, nothing
    but the output is written."""
    shown = run(tmp_path, "cache", small_tree, "--format", "json", on_terminal=True)
    assert shown.returncode == 0, shown.terminal
    assert b"reading [" in shown.terminal and b"%" in shown.terminal
    assert screen(shown.terminal)[-1] == ""  # erased
    assert json.loads(shown.stdout)["rows"]
    piped = run(tmp_path, "cache", small_tree, "--format", "json", on_terminal=False)
    assert piped.returncode == 0 and piped.terminal == b""
    assert piped.stdout == shown.stdout


def test_output_to_the_same_terminal_never_lands_inside_the_bar(
    small_tree: Path, tmp_path: Path
) -> None:
    """With stdout on the terminal too, the bar is erased before each write: every line
    on the screen is a line of output, none holds a piece of the bar."""
    both = run(tmp_path, "cache", small_tree, on_terminal=True, stdout_on_terminal=True)
    assert both.returncode == 0
    assert both.terminal.count(b"reading [") > 1  # drawn again between writes
    lines = screen(both.terminal)
    assert not any("reading [" in text for text in lines)
    assert sum(text.startswith("session session-") for text in lines) == 6  # 3 + summaries


def test_cache_prints_each_summary_right_after_its_rows(small_tree: Path) -> None:
    """Many sessions: each session's summary line comes under its own rows, before the
    next session's table."""
    lines = run_cli("cache", small_tree).stdout.splitlines()
    starts = [i for i, text in enumerate(lines) if text.startswith("session ")]
    headers = [lines[i] for i in starts]
    assert headers == [
        "session session-0000",
        "session session-0000: 40 calls, " + headers[1].split(": 40 calls, ")[1],
        "session session-0001",
        "session session-0001: 40 calls, " + headers[3].split(": 40 calls, ")[1],
        "session session-0002",
        "session session-0002: 40 calls, " + headers[5].split(": 40 calls, ")[1],
    ]
    assert starts[1] == starts[0] + 2 + 40  # header, column headings, 40 rows


def test_plot_draws_one_overview_of_a_tree_and_sessions_on_request(
    small_tree: Path, tmp_path: Path
) -> None:
    """A tree gives one picture (cost and hit ratio per day and per session) by default;
    `--per-session` a picture per session, `--top N` only the N costliest."""
    overview = run_cli("plot", small_tree, "-o", tmp_path / "tree.png")
    assert overview.returncode == 0, overview.stderr
    assert overview.stdout.splitlines() == [str(tmp_path / "tree.png")]
    assert (tmp_path / "tree.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    costliest = json.loads(run_cli("report", small_tree, "--top", "2", "--format", "json").stdout)[
        "groups"
    ]
    each = run_cli("plot", small_tree, "--per-session", "--top", "2", "-o", tmp_path / "s.svg")
    assert each.returncode == 0, each.stderr
    assert each.stdout.splitlines() == [
        str(tmp_path / f"s-{group['session_id']}.svg") for group in costliest
    ]


def test_plot_reads_stdin_once_for_both_its_passes(small_tree: Path, tmp_path: Path) -> None:
    """`plot -` sums the calls, then draws them: stdin is kept for the second reading, and
    messages still name it `<stdin>`."""
    text = (small_tree / "session-0001" / "token-usage.jsonl").read_text() + "torn{\n"
    done = run_cli("plot", "-", "-o", tmp_path / "stdin.png", stdin=text)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(tmp_path / "stdin.png")]
    assert "<stdin>:41: not JSON" in done.stderr


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 sessions of 500 lines each (about 67 MB)."""
    root = tmp_path_factory.mktemp("fleet") / "sessions"
    write_sessions_tree(root, 200, 500)
    return root


FLEET_RUNS = [
    ("report",),
    ("report", "--by", "day", "--format", "json"),
    ("cost", "--by", "session", "--format", "csv"),
    ("cache",),
    ("cache", "--format", "json"),
    ("validate", "--format", "json"),
    ("plot", "-o", "{out}/fleet.png"),
    ("plot", "--per-session", "--last", "200", "-o", "{out}/session.png"),
]


@pytest.mark.slow  # about two minutes: every command over 100,000 lines, 200 pictures
@pytest.mark.parametrize("args", FLEET_RUNS, ids=[" ".join(a[:3]) for a in FLEET_RUNS])
def test_a_tree_of_200_sessions_of_500_lines(
    fleet: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Every command finishes over the whole tree, shows its progress bar on a terminal,
    and its process tree never holds more than 200 MB."""
    argv = [arg.format(out=tmp_path) for arg in args]
    done = run(tmp_path, argv[0], fleet, *argv[1:], on_terminal=True)
    assert done.returncode == 0, done.terminal[-2000:]
    per_session = "--per-session" in argv
    assert (b"drawing [" if per_session else BARS[argv[0]].encode()) in done.terminal
    assert done.peak_mb < MEMORY_LIMIT_MB, f"{done.peak_mb:.0f} MB in {done.seconds:.0f} s"
    if per_session:
        assert len(list(tmp_path.glob("session-*.png"))) == 200


@pytest.mark.slow  # reads the 67 MB tree
def test_no_bar_off_a_terminal_even_for_a_long_run(fleet: Path, tmp_path: Path) -> None:
    """The same run with stderr a pipe writes nothing there."""
    done = run(tmp_path, "cache", fleet, "--cold-only", on_terminal=False)
    assert done.returncode == 0 and done.terminal == b""
    assert done.stdout.startswith(b"\nsession session-0000\n")
