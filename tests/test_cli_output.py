"""Output for scripts (issue 12, item 9): every command's JSON has the same envelope with
a `schema_version` and keeps its shape whatever `--by` is; CSV writes true/false; the
selection (`--since/--until`, `--session`, `--model`) is every command's and selects the
same calls everywhere; `--top` and `--strict` do what they say."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from otel_token_usage.analysis import SCHEMA_VERSION

from .helpers import log_line, run_cli

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess

ENVELOPE = {"schema_version", "command", "filters", "input"}
FILTER_KEYS = {"since", "until", "session", "model"}
INPUT_KEYS = {"logs", "valid_lines", "skipped_lines", "skipped", "unreadable"}
COMMANDS = ["report", "cost", "cache", "plot", "validate"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Three sessions over three days and three models; `alpha` has a line with a float
    count (invalid, but its session can be read), `beta` ends in a torn line (which
    cannot be placed)."""
    root = tmp_path / "sessions"
    alpha = [
        log_line(f"2026-06-15T10:0{i}:00.000Z", "alpha", fresh=100, read=900 * i, out=50)
        for i in range(3)
    ]
    bad = alpha[0].replace('"output_tokens":50', '"output_tokens":1.5')
    beta = [
        log_line(
            f"2026-06-16T09:0{i}:00.000Z",
            "beta",
            model="gpt-6-luna",
            provider="openai",
            fresh=400,
            read=4000 * i,
            out=20,
        )
        for i in range(2)
    ]
    gamma = [log_line("2026-06-17T08:00:00.000Z", "gamma", model="claude-sonnet-5-5", fresh=9)]
    for name, lines in (
        ("alpha", [*alpha, bad]),
        ("beta", [*beta, '{"ts":"2026']),
        ("gamma", gamma),
    ):
        (root / name).mkdir(parents=True)
        (root / name / "token-usage.jsonl").write_text("".join(lines))
    return root


def json_of(*args: str | Path) -> dict[str, Any]:
    result = run_cli(*args, "--format", "json")
    assert "Traceback" not in result.stderr, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def command_args(name: str, tmp_path: Path) -> list[str | Path]:
    return [name, "-o", tmp_path / "picture.svg"] if name == "plot" else [name]


def test_report_and_cost_json_keep_their_shape_whatever_by(tree: Path) -> None:
    """`report` and `cost`: the same top-level keys, and the same keys in every group and
    in the total, for `--by session`, `model` and `day`."""
    for command in ("report", "cost"):
        shapes = []
        for by in ("session", "model", "day"):
            data = json_of(command, tree, "--by", by)
            assert data["schema_version"] == SCHEMA_VERSION == 1
            assert (data["command"], data["by"]) == (command, by)
            assert set(data["filters"]) == FILTER_KEYS and set(data["input"]) == INPUT_KEYS
            rows = {frozenset(group) for group in data["groups"]}
            assert rows == {frozenset(data["total"])}
            shapes.append((list(data), rows))
        assert shapes[0] == shapes[1] == shapes[2]


@pytest.mark.slow  # a run of every command per case
def test_every_command_writes_json_in_the_same_envelope(tree: Path, tmp_path: Path) -> None:
    """cache, validate and plot have `--format json` too, each one object starting with the
    envelope; cache's has every session's summary, validate's every invalid line."""
    for name in COMMANDS:
        data = json_of(*command_args(name, tmp_path), tree)
        assert list(data)[:3] == ["schema_version", "command", "filters"]
        assert set(data) >= ENVELOPE and data["command"] == name
        assert data["input"]["logs"] == 3 and data["input"]["valid_lines"] == 6
    cache = json_of("cache", tree)
    assert [s["session_id"] for s in cache["sessions"]] == ["alpha", "beta", "gamma"]
    assert {"calls", "cold_rounds", "reasons", "ttl"} <= set(cache["sessions"][0])
    assert len(cache["rows"]) == 6 and cache["threshold"] == 0.5
    check = json_of("validate", tree)
    assert (check["valid"], check["invalid"]) == (6, 2)
    assert [(item["line"], set(item)) for item in check["invalid_lines"]] == [
        (4, {"path", "line", "reason"}),
        (3, {"path", "line", "reason"}),
    ]
    plot = json_of("plot", tree, "-o", tmp_path / "tree.svg")
    assert plot["files"] == [str(tmp_path / "tree.svg")] and plot["mode"] == "overview"


def test_csv_writes_true_and_false(tree: Path) -> None:
    """Booleans are `true`/`false` in CSV (cache's `cold`, cost's `tiered`)."""
    rows = list(csv.DictReader(io.StringIO(run_cli("cache", tree, "--format", "csv").stdout)))
    assert {row["cold"] for row in rows} == {"true", "false"}
    cost = list(csv.DictReader(io.StringIO(run_cli("cost", tree, "--format", "csv").stdout)))
    assert {row["tiered"] for row in cost} <= {"true", "false"}
    assert cost[-1]["kind"] == "total" and cost[-1]["tiered"] == "false"
    check = run_cli("validate", tree, "--format", "csv")
    assert check.returncode == 1 and check.stdout.splitlines()[0] == "path,line,reason"


@pytest.mark.slow  # a run of every command per case
@pytest.mark.parametrize(
    ("selection", "sessions"),
    [
        (["--session", "alpha"], {"alpha": 3}),
        (["--session", "?eta", "--session", "gamma"], {"beta": 2, "gamma": 1}),
        (["--model", "claude-*"], {"alpha": 3, "gamma": 1}),
        (["--since", "2026-06-16", "--until", "2026-06-17"], {"beta": 2}),
        (["--since", "2026-06-15T10:01:00Z", "--model", "claude-opus-4-8"], {"alpha": 2}),
    ],
)
def test_every_command_selects_the_same_calls(
    tree: Path, tmp_path: Path, selection: list[str], sessions: dict[str, int]
) -> None:
    """`--session` and `--model` (ids or globs, repeatable), `--since` and `--until` select
    the same calls in report, cost, cache, validate and plot, and JSON echoes them."""
    report = json_of("report", tree, *selection)
    assert {g["session_id"]: g["calls"] for g in report["groups"]} == sessions
    assert json_of("cost", tree, *selection)["total"]["calls"] == sum(sessions.values())
    cache = json_of("cache", tree, *selection)
    assert {s["session_id"]: s["calls"] for s in cache["sessions"]} == sessions
    assert len(cache["rows"]) == sum(sessions.values())
    assert json_of("validate", tree, *selection)["valid"] == sum(sessions.values())
    plot = json_of("plot", tree, "-o", tmp_path / "p.svg", *selection)
    assert plot["mode"] == ("overview" if len(sessions) > 1 else "sessions")
    if selection[0] == "--session":
        assert report["filters"]["session"] == selection[1::2]


def test_skipped_lines_outside_the_selection_are_not_counted(tree: Path) -> None:
    """A bad line whose session, model or time can still be read counts only within the
    selection; one that cannot be placed (torn) always counts."""
    assert json_of("report", tree)["input"]["skipped_lines"] == 2
    assert json_of("report", tree, "--session", "alpha")["input"]["skipped_lines"] == 2
    gamma = json_of("report", tree, "--session", "gamma")
    assert gamma["input"]["skipped_lines"] == 1  # beta's torn line
    assert gamma["input"]["skipped"][0]["path"].endswith("beta/token-usage.jsonl")
    assert json_of("validate", tree, "--session", "gamma")["invalid"] == 1


@pytest.mark.slow  # a run of every command per case
@pytest.mark.parametrize("name", COMMANDS)
def test_strict_exits_1_when_a_line_was_skipped(tree: Path, tmp_path: Path, name: str) -> None:
    """Without `--strict` skipped lines are warned of and the exit status is 0 (validate:
    1, always); with it, 1. A clean input exits 0 either way."""
    args = command_args(name, tmp_path)
    lenient = run_cli(*args, tree)
    strict = run_cli(*args, tree, "--strict")
    assert lenient.returncode == (1 if name == "validate" else 0), lenient.stderr
    assert strict.returncode == 1, strict.stderr
    assert "Traceback" not in strict.stderr
    if name != "validate":
        assert "skipped 2 lines that are not records" in strict.stderr
    clean = run_cli(*args, tree / "gamma", "--strict")
    assert clean.returncode == 0, clean.stderr


@pytest.mark.slow  # several runs
def test_top_keeps_the_costliest_groups_and_the_total_of_all(tree: Path) -> None:
    """`--top N`: the N costliest groups, costliest first; the total is of every call and
    `omitted_groups` (or a note under the table) says how many were left out."""
    full = json_of("report", tree)
    costs = sorted(((g["cost_usd"], g["session_id"]) for g in full["groups"]), reverse=True)
    top = json_of("report", tree, "--top", "2")
    assert [g["session_id"] for g in top["groups"]] == [name for _cost, name in costs[:2]]
    assert (top["top"], top["omitted_groups"]) == (2, 1)
    assert top["total"] == full["total"]
    by_model = json_of("cost", tree, "--top", "1")
    assert len(by_model["groups"]) == 1 and by_model["omitted_groups"] == 2
    assert by_model["total"]["calls"] == 6
    table = run_cli("report", tree, "--top", "2").stdout
    assert "the 2 costliest of 3 sessions (--top 2); TOTAL is of all of them" in table
    by_day = json_of("cost", tree, "--by", "day")
    assert [g["day"] for g in by_day["groups"]] == ["2026-06-15", "2026-06-16", "2026-06-17"]
    assert by_day["groups"][0]["input_mtok"] is None  # rates are a model's


def test_a_selection_that_matches_nothing_is_empty_not_an_error(tree: Path, tmp_path: Path) -> None:
    """No call selected: an empty result and a warning, exit 0; plot, which would have
    nothing to draw, stops with one line (exit 2)."""
    for name, listed in (("report", "groups"), ("cost", "groups"), ("cache", "rows")):
        result = run_cli(name, tree, "--session", "nobody", "--format", "json")
        assert result.returncode == 0, result.stderr
        assert "no calls match --session nobody" in result.stderr
        assert json.loads(result.stdout)[listed] == []
    check = run_cli("validate", tree, "--session", "nobody", "--format", "json")
    assert "no calls match --session nobody" in check.stderr
    data = json.loads(check.stdout)
    assert (data["valid"], data["invalid"]) == (0, 1)  # beta's torn line cannot be placed
    assert check.returncode == 1
    plot = run_cli("plot", tree, "-o", tmp_path / "p.png", "--session", "nobody")
    assert plot.returncode == 2 and "nothing to plot" in plot.stderr


def readme_json_examples() -> list[dict[str, Any]]:
    """The JSON blocks of the README's "JSON for scripts" section."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    section = text.split("### JSON for scripts", 1)[1].split("\n### ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


@pytest.mark.slow  # a run of every command
def test_readme_json_examples_have_the_keys_of_real_output(tree: Path, tmp_path: Path) -> None:
    """Each example in the README has the keys of the command's real output, in its
    order; the rows it shows (cut to a few keys) have none the real rows lack."""
    examples = readme_json_examples()
    assert sorted(example["command"] for example in examples) == sorted(COMMANDS)
    for example in examples:
        real = json_of(*command_args(example["command"], tmp_path), tree)
        assert list(example) == list(real), example["command"]
        assert set(example["filters"]) == FILTER_KEYS and set(example["input"]) == INPUT_KEYS
        for key, value in example.items():
            if isinstance(value, dict) and key in ("total",):
                assert set(value) <= set(real[key]), key
            if isinstance(value, list) and value and isinstance(value[0], dict):
                assert real[key], key
                assert set(value[0]) <= set(real[key][0]), key
        for item in example["input"]["skipped"]:
            assert set(item) == {"path", "line", "reason"}
