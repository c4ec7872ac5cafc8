"""Every example in examples/ runs as its README says, offline, and writes (or reads) the
session logs it promises: each is run as a subprocess, the way a user runs it, against
the local fake provider, with its sessions dir in tmp_path."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_token_usage.analysis import CacheTimeline, find_logs, read_calls
from otel_token_usage.record import LOG_FILE_NAME

from .helpers import log_line

pytestmark = pytest.mark.slow  # subprocesses and real servers: `make test` runs them

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
TIMEOUT_S = 120
# Anything that would send the examples to a real API or a collector, or change how they
# trace, is left out of their environment.
_FOREIGN_PREFIXES = ("ANTHROPIC_", "OPENAI_", "OTEL_", "TRACELOOP_", "EXAMPLES_")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
    env.update(extra)
    return env


def _run(command: list[str], **extra_env: str) -> str:
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _example(name: str, sessions_dir: Path, *args: str) -> str:
    return _run(
        [sys.executable, "-m", f"examples.{name}", "--sessions-dir", str(sessions_dir), *args]
    )


def _lines(sessions_dir: Path, session_id: str, *, torn_tail: bool = False) -> list[dict[str, Any]]:
    text = (sessions_dir / session_id / LOG_FILE_NAME).read_text(encoding="utf-8")
    lines = text.splitlines()
    return [json.loads(line) for line in (lines[:-1] if torn_tail else lines)]


def _prompt(record: dict[str, Any]) -> int:
    return int(
        record["input_tokens"]
        + record["cache_read_input_tokens"]
        + record["cache_creation_input_tokens"]
    )


def test_manual_spans_runs_as_a_script(tmp_path: Path) -> None:
    """`python examples/manual_spans.py` writes its ten scripted calls."""
    _run([sys.executable, str(EXAMPLES / "manual_spans.py"), "--sessions-dir", str(tmp_path)])
    assert len(_lines(tmp_path, "manual-spans")) == 10


def test_anthropic_instrumentor_logs_each_turn_as_billed(tmp_path: Path) -> None:
    """Four turns (two JSON, two streams) give four lines in the session, with the
    conversation length of each call, and each line equals the usage the SDK returned."""
    out = _example("anthropic_instrumentor", tmp_path)
    _example("anthropic_instrumentor", tmp_path)  # a re-run replaces its lines
    lines = _lines(tmp_path, "anthropic-instrumentor")
    assert [r["message_count"] for r in lines] == [1, 3, 5, 7]
    assert {r["provider"] for r in lines} == {"anthropic"}
    assert lines[0]["cache_creation_input_tokens"] > 0
    assert lines[0]["cache_read_input_tokens"] == 0
    assert all(r["cache_read_input_tokens"] > 0 for r in lines[1:])
    assert all(r["output_tokens"] > 0 and r["span_id"] for r in lines)
    assert "4 of 4 lines match the usage the SDK returned" in out


def test_openai_instrumentor_logs_chat_stream_and_responses(tmp_path: Path) -> None:
    """Chat, a chat stream opened without include_usage, and two Responses calls give
    four lines with usage, while the stream's reader saw no usage chunk."""
    out = _example("openai_instrumentor", tmp_path)
    lines = _lines(tmp_path, "openai-instrumentor")
    assert len(lines) == 4
    assert {r["provider"] for r in lines} == {"openai"}
    stream = lines[1]
    assert stream["message_count"] == 4  # system, user, assistant, user
    assert stream["cache_read_input_tokens"] > 0 and stream["output_tokens"] > 0
    assert lines[3]["cache_read_input_tokens"] > 0  # the Responses instructions, cached
    assert "0 of them usage-only or with usage" in out


def test_zero_code_app_has_no_otel_code(tmp_path: Path) -> None:
    """app.py imports neither otel_token_usage nor OpenTelemetry: everything is added by
    `opentelemetry-instrument`."""
    tree = ast.parse((EXAMPLES / "zero_code" / "app.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported == {"__future__", "anthropic", "openai"}


def test_zero_code_run_sh_writes_a_log_per_conversation(tmp_path: Path) -> None:
    """run.sh (`opentelemetry-instrument python app.py` with the token_usage exporter)
    logs each ticket's Anthropic calls in the ticket's session and the OpenAI call in
    the fallback session."""
    assert (BIN / "opentelemetry-instrument").exists()
    sessions = tmp_path / "sessions"
    _run(
        ["sh", str(EXAMPLES / "zero_code" / "run.sh")],
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        OTEL_TOKEN_USAGE_SESSIONS_DIR=str(sessions),
    )
    assert sorted(p.name for p in sessions.iterdir()) == [
        "ticket-1041",
        "ticket-1042",
        "zero-code-run",
    ]
    for ticket in ("ticket-1041", "ticket-1042"):
        lines = _lines(sessions, ticket)
        assert len(lines) == 2
        assert {r["session_id"] for r in lines} == {ticket}
        assert lines[1]["cache_read_input_tokens"] > 0
    (digest,) = _lines(sessions, "zero-code-run")
    assert digest["provider"] == "openai" and digest["output_tokens"] > 0


def test_other_instrumentation_turns_openllmetry_spans_into_lines(tmp_path: Path) -> None:
    """OpenLLMetry's spans, stamped by session(), become the session's lines; its JSON
    calls' lines are exactly what the API billed."""
    out = _example("other_instrumentation", tmp_path)
    lines = _lines(tmp_path, "other-instrumentation")
    assert len(lines) == 3
    assert {r["session_id"] for r in lines} == {"other-instrumentation"}
    assert lines[0]["cache_creation_input_tokens"] > 0
    assert lines[1]["cache_read_input_tokens"] > 0 and lines[2]["cache_read_input_tokens"] > 0
    assert "line 1 (create): as billed" in out
    assert "line 2 (create): as billed" in out


def test_pydantic_ai_sessions_go_where_the_example_says(tmp_path: Path) -> None:
    """pydantic-ai's own id wins over session("chat-42"); override=True and an id passed
    to run() put both turns of a chat in the named session."""
    pytest.importorskip("pydantic_ai")
    out = _example("pydantic_ai_sessions", tmp_path)
    assert not (tmp_path / "chat-42").exists()
    for name in ("chat-43", "chat-44"):
        lines = _lines(tmp_path, name)
        assert len(lines) == 2 and {r["session_id"] for r in lines} == {name}
    [own] = {p.name for p in tmp_path.iterdir()} - {"chat-43", "chat-44"}
    assert len(_lines(tmp_path, own)) == 2
    assert "chat-42: 0 line(s)" in out


def test_collector_sends_what_the_log_says(tmp_path: Path) -> None:
    """Without an endpoint, the local receiver gets one span per logged call and token
    counters whose totals are the log's."""
    out = _example("collector", tmp_path)
    lines = _lines(tmp_path, "collector")
    assert len(lines) == 3
    assert "received 3 spans" in out
    points = {
        line.split()[0]: line.split()[-1]
        for line in out.splitlines()
        if line.startswith("  gen_ai.client.inference.usage.")
    }
    assert int(points["gen_ai.client.inference.usage.input_tokens"]) == sum(map(_prompt, lines))
    cache_read = sum(r["cache_read_input_tokens"] for r in lines)
    assert int(points["gen_ai.client.inference.usage.cache_read.input_tokens"]) == cache_read


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A sessions dir the DuckDB example filled itself (it runs the demo when empty),
    plus the OpenAI example's session and a torn line; and DuckDB's results over it."""
    sessions = tmp_path_factory.mktemp("analysis") / "sessions"
    sessions.mkdir()
    first = json.loads(_example("analysis_duckdb", sessions, "--json"))
    assert [row["session_id"] for row in first["sessions"]] == ["demo"]
    _example("openai_instrumentor", sessions)
    with (sessions / "demo" / LOG_FILE_NAME).open("a", encoding="utf-8") as log:
        log.write('{"ts":"2026-')  # as a crash mid-write leaves it
    return sessions, json.loads(_example("analysis_duckdb", sessions, "--json"))


def test_analysis_duckdb_cold_rounds_are_those_of_token_usage_cache(
    analysed: tuple[Path, dict[str, Any]],
) -> None:
    """DuckDB's cold rounds and their reasons are exactly the cache timeline's, and its
    per-session counts agree with the logs."""
    sessions, results = analysed
    timeline = CacheTimeline()
    expected = [
        (row.session_id, row.index, row.reason)
        for row in timeline.rows(read_calls(find_logs(sessions)))
        if row.cold
    ]
    got = [(r["session_id"], r["round"], r["reason"]) for r in results["cold_rounds"]]
    assert sorted(got) == sorted(expected)
    assert {"ttl_expired", "compression", "first_call"} <= {reason for *_, reason in got}
    by_session = {r["session_id"]: r for r in results["sessions"]}
    for session_id in ("demo", "openai-instrumentor"):
        lines = _lines(sessions, session_id, torn_tail=session_id == "demo")
        row = by_session[session_id]
        assert row["calls"] == len(lines)
        assert row["prompt_tokens"] == sum(map(_prompt, lines))
        read = sum(r["cache_read_input_tokens"] for r in lines)
        # Rounded half up to 4 places, in integers, as the examples round it.
        prompt = row["prompt_tokens"]
        assert row["hit_ratio"] == (read * 20_000 + prompt) // (2 * prompt) / 10_000


def test_analysis_duckdb_cost_is_token_usage_cost(analysed: tuple[Path, dict[str, Any]]) -> None:
    """Cost per model from the SQL join equals `token-usage cost` for each model."""
    sessions, results = analysed
    done = subprocess.run(
        [str(BIN / "token-usage"), "cost", "--format", "json", str(sessions)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: the torn line was skipped
    cli = {(m["provider"], m["model"]): m["cost_usd"] for m in json.loads(done.stdout)["groups"]}
    ours = {(r["provider"], r["model"]): r["cost_usd"] for r in results["cost"]}
    assert ours.keys() == cli.keys()
    for key, cost in ours.items():
        assert cost == pytest.approx(cli[key], abs=1e-6)


def test_analysis_pandas_agrees_with_duckdb(analysed: tuple[Path, dict[str, Any]]) -> None:
    """The pandas example gives the DuckDB example's three tables, value for value, and
    both print readable tables."""
    sessions, results = analysed
    assert json.loads(_example("analysis_pandas", sessions, "--json")) == results
    text = _example("analysis_pandas", sessions)
    assert "1 lines skipped" in text and "ttl_expired" in text
    assert "Cold rounds" in _example("analysis_duckdb", sessions)


def test_analysis_examples_round_gaps_and_ratios_alike(tmp_path: Path) -> None:
    """Gaps and hit ratios on the edge of a rounding step (a gap of 0.25 s, a ratio of
    1/800) come out the same from DuckDB and pandas: both work in integer milliseconds
    and token counts and round half up in integers, never through float epochs."""
    sessions = tmp_path / "sessions"
    (sessions / "edges").mkdir(parents=True)
    lines = [log_line("2026-06-15T10:00:00.100Z", "edges", fresh=800)]
    millis = 100
    for step in range(1, 30):
        millis += 50 + 100 * step  # gaps of 0.15 s, 0.25 s, 0.35 s, ...: all on a .x5
        at = f"2026-06-15T10:{millis // 60_000:02d}:{millis % 60_000 / 1000:06.3f}Z"
        read = 1 + step % 3  # of a prompt of 800: ratios 0.0025, 0.00375, 0.00125, ...
        lines.append(log_line(at, "edges", fresh=800 - read, read=read))
    (sessions / "edges" / LOG_FILE_NAME).write_text("".join(lines))
    duck = json.loads(_example("analysis_duckdb", sessions, "--json"))
    gaps = [row["gap_s"] for row in duck["cold_rounds"]]
    assert gaps[:4] == [None, 0.2, 0.3, 0.4]  # 0.15 -> 0.2, 0.25 -> 0.3: half up
    ratios = [row["hit_ratio"] for row in duck["cold_rounds"]]
    assert ratios[:4] == [0.0, 0.0025, 0.0038, 0.0013]  # 3/800, 1/800: half up
    assert json.loads(_example("analysis_pandas", sessions, "--json")) == duck
