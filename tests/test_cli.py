"""`token-usage` run as a real subprocess: every subcommand and format, and the errors a
person can meet (one line on stderr, non-zero exit, never a traceback)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from otel_token_usage.record import SEED_FIELDS

from .helpers import log_line, run_cli

REPORT_KEYS = {
    "session_id",
    "calls",
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "thinking_tokens",
    "prompt_tokens",
    "cache_hit_ratio",
    "cost_usd",
    "bad_lines",
}
ENVELOPE = {"schema_version", "command", "filters", "input"}
ROW_KEYS = {"index", "ts", "gap_s", "prompt_tokens", "cache_hit_ratio", "cold", "reason"}


def rec(
    ts: str,
    session: str,
    *,
    fresh: int,
    read: int = 0,
    write: int = 0,
    out: int = 0,
    model: str = "claude-opus-4-8",
) -> str:
    return log_line(ts, session, model=model, fresh=fresh, read=read, write=write, out=out)


run = run_cli


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two sessions; `a` has a garbage line and a pause over the 5-minute TTL."""
    base = tmp_path / "sessions"
    (base / "a").mkdir(parents=True)
    (base / "b").mkdir()
    (base / "a" / "token-usage.jsonl").write_text(
        rec("2026-06-15T10:00:00.000Z", "a", fresh=100, write=2000, out=300)
        + "garbage\n"
        + rec("2026-06-15T10:01:00.000Z", "a", fresh=50, read=2000, write=500, out=200)
        + rec("2026-06-15T10:09:00.000Z", "a", fresh=50, read=0, write=2550, out=100)
    )
    (base / "b" / "token-usage.jsonl").write_text(
        rec("2026-06-16T09:00:00.000Z", "b", fresh=1000, out=100)
    )
    return base


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("token-usage: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_report_json_has_sessions_and_total(root: Path) -> None:
    """`report --format json`: one object with each session and the total; skipped lines
    are reported on stderr with file and line."""
    result = run("report", root, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == ENVELOPE | {"by", "top", "groups", "omitted_groups", "total"}
    assert [s["session_id"] for s in data["groups"]] == ["a", "b"]
    for summary in [*data["groups"], data["total"]]:
        assert set(summary) >= REPORT_KEYS
    a = data["groups"][0]
    assert (a["calls"], a["input_tokens"], a["cache_read_input_tokens"]) == (3, 200, 2000)
    assert a["prompt_tokens"] == 200 + 2000 + 5050
    assert a["bad_lines"] == 1
    # (200*5 + 2000*0.5 + 5050*6.25 + 600*25) / 1e6 for Opus 4.8
    assert a["cost_usd"] == pytest.approx(0.0485625)
    assert data["total"]["session_id"] is None and data["total"]["calls"] == 4
    assert f"{root / 'a' / 'token-usage.jsonl'}:2:" in result.stderr


def test_report_csv_and_table(root: Path) -> None:
    """CSV has a row per session plus the total; the table is for people."""
    result = run("report", root, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["kind"], r["session_id"], r["calls"]) for r in rows] == [
        ("session", "a", "3"),
        ("session", "b", "1"),
        ("total", "", "4"),
    ]
    assert set(rows[0]) >= REPORT_KEYS
    table = run("report", root).stdout
    assert table.splitlines()[0].split()[:2] == ["session", "calls"]
    assert "TOTAL" in table and "\na " in table


def test_report_by_model_and_day_with_range(root: Path) -> None:
    """`--by` regroups; `--since/--until` take dates or RFC 3339 times."""
    by_model = json.loads(run("report", root, "--by", "model", "--format", "json").stdout)
    assert [m["model"] for m in by_model["groups"]] == ["claude-opus-4-8"]
    by_day = json.loads(
        run("report", root, "--by", "day", "--since", "2026-06-16", "--format", "json").stdout
    )
    assert [(d["day"], d["calls"]) for d in by_day["groups"]] == [("2026-06-16", 1)]
    until = json.loads(
        run("report", root, "--until", "2026-06-15T10:00:30+00:00", "--format", "json").stdout
    )
    assert until["total"]["calls"] == 1


def test_cost_shows_rates_and_saving(root: Path) -> None:
    """`cost` lists each model with its cache prices from genai-prices."""
    data = json.loads(run("cost", root, "--format", "json").stdout)
    (model,) = data["groups"]
    assert model["price_source"] == "genai-prices"
    assert (model["input_mtok"], model["cache_read_mtok"]) == (5.0, 0.5)
    assert (model["cache_write_5m_mtok"], model["cache_write_1h_mtok"]) == (6.25, 10.0)
    assert data["total"]["cost_usd"] == pytest.approx(0.0485625 + 0.0075)
    assert "claude-opus-4-8" in run("cost", root).stdout
    assert run("cost", root, "--format", "csv").stdout.startswith("kind,session_id,day,provider")


def test_cost_of_an_unknown_model_is_null_and_said_once(tmp_path: Path) -> None:
    """A model without a price: cost null, one warning naming it."""
    log = tmp_path / "token-usage.jsonl"
    log.write_text(
        rec("2026-06-15T10:00:00.000Z", "u", fresh=5, model="mystery-1")
        + rec("2026-06-15T10:01:00.000Z", "u", fresh=5, model="mystery-1")
    )
    result = run("report", log, "--format", "json")
    assert json.loads(result.stdout)["total"]["cost_usd"] is None
    assert result.stderr.count("no price known for anthropic/mystery-1 (2 calls)") == 1


def test_cache_timeline_in_each_format(root: Path) -> None:
    """`cache` rows carry the reason of each cold round, in JSON, CSV and the table."""
    rows = json.loads(run("cache", root / "a", "--format", "json").stdout)["rows"]
    assert all(set(row) >= ROW_KEYS for row in rows)
    assert [(r["index"], r["cold"], r["reason"]) for r in rows] == [
        (1, True, "first_call"),
        (2, False, None),
        (3, True, "ttl_expired"),
    ]
    assert rows[2]["gap_s"] == 480.0
    forced = json.loads(run("cache", root / "a", "--ttl", "1h", "--format", "json").stdout)
    assert forced["rows"][2]["reason"] == "prefix_change"
    cold = json.loads(
        run("cache", root, "--cold-only", "--session", "b", "--format", "json").stdout
    )["rows"]
    assert [(r["session_id"], r["reason"]) for r in cold] == [("b", "first_call")]
    table = run("cache", root / "a").stdout
    assert "ttl_expired" in table and "1 cold" not in table and "2 cold" in table
    csv_rows = list(csv.DictReader(io.StringIO(run("cache", root, "--format", "csv").stdout)))
    assert [r["reason"] for r in csv_rows] == ["first_call", "", "ttl_expired", "first_call"]


def test_plot_writes_the_picture(root: Path, tmp_path: Path) -> None:
    """`plot -o` writes the picture and prints its path."""
    out = tmp_path / "a.png"
    result = run("plot", root / "a", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert out.read_bytes().startswith(b"\x89PNG")
    one_line_error(run("plot", root / "a", "-o", tmp_path / "a.gif"), ".png, .svg or .html")


def test_validate_reports_each_bad_line_and_exits_non_zero(root: Path, tmp_path: Path) -> None:
    """`validate` checks the full schema: bad lines as file:line, exit 1; clean logs exit 0."""
    result = run("validate", root)
    assert result.returncode == 1
    log = root / "a" / "token-usage.jsonl"
    assert result.stdout.startswith(f"{log}:2: ")
    assert "4 valid, 1 invalid line" in result.stderr
    strict = tmp_path / "strict.jsonl"
    line = rec("2026-06-15T10:00:00.000Z", "s", fresh=1)
    strict.write_text(line + line.replace('"budget_limit":0,', ""))
    bad = run("validate", strict)
    assert bad.returncode == 1 and f"{strict}:2: " in bad.stdout and "budget_limit" in bad.stdout
    clean = run("validate", root / "b")
    assert clean.returncode == 0 and "1 valid, 0 invalid" in clean.stdout


def test_schema_is_the_json_schema_of_a_line() -> None:
    """`schema` prints a JSON Schema listing every record field."""
    schema = json.loads(run("schema").stdout)
    assert set(SEED_FIELDS) <= set(schema["properties"])
    assert set(SEED_FIELDS) <= set(schema["required"])


def test_stdin_is_read_with_a_dash(root: Path) -> None:
    """`-` reads a log from standard input."""
    text = (root / "b" / "token-usage.jsonl").read_text()
    data = json.loads(run("report", "-", "--format", "json", stdin=text).stdout)
    assert data["total"]["calls"] == 1


@pytest.mark.parametrize("command", ["report", "cache", "cost", "validate"])
def test_errors_are_one_line_without_traceback(tmp_path: Path, command: str) -> None:
    """Missing path, empty file and a file that is not a session log: one line, exit 2."""
    one_line_error(run(command, tmp_path / "nope"), "nope", "no such file")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(run(command, empty), "empty")
    if command != "validate":
        junk = tmp_path / "junk.csv"
        junk.write_text("a,b\n1,2\n")
        one_line_error(run(command, junk), "not a session log")


def test_unreadable_input_and_bad_price_file_are_one_line(root: Path, tmp_path: Path) -> None:
    """A log that cannot be read and a broken price file end in one line, exit 2."""
    blocked = tmp_path / "blocked" / "token-usage.jsonl"
    blocked.mkdir(parents=True)  # a directory where the log should be: unreadable as a file
    one_line_error(run("report", blocked), "token-usage.jsonl")
    if os.geteuid() != 0:
        locked = tmp_path / "locked.jsonl"
        locked.write_text(rec("2026-06-15T10:00:00.000Z", "l", fresh=1))
        locked.chmod(0)
        one_line_error(run("report", locked), "ermission denied")
    prices = tmp_path / "prices.toml"
    prices.write_text("models = 3\n")
    one_line_error(run("report", root, "--prices", prices), "not a valid price file")


def test_clean_run_writes_nothing_on_stderr_off_a_terminal(root: Path) -> None:
    """No progress bar (or anything else) on stderr when it is not a terminal."""
    result = run("report", root / "b", "--format", "json")
    assert result.returncode == 0 and result.stderr == ""


def test_bad_arguments_exit_2() -> None:
    """Argument errors are argparse's usage message and exit status 2."""
    result = run("report", ".", "--since", "yesterday")
    assert result.returncode == 2 and "not a time" in result.stderr
    assert "Traceback" not in result.stderr
