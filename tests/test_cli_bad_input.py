"""Bad input on the reading side, through the real `token-usage` command: each case of the
README's bad-input table (issue 12, items 1-6; issue 9, item 10). Every number reported is
right, or the user is told; log content never drives the terminal."""

from __future__ import annotations

import csv
import io
import json
from collections import deque
from pathlib import Path

import pytest

from otel_token_usage.analysis import CacheTimeline, find_logs, read_calls
from otel_token_usage.analysis._plot import _draw, _round
from otel_token_usage.record import U64_MAX

from .helpers import log_line, run_cli

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess

READERS = ["report", "cache", "cost", "plot", "validate"]
GOOD_TS = "2026-06-15T10:00:00.000Z"


def line(ts: str = GOOD_TS, session: str = "s", **kw: int | str) -> str:
    return log_line(ts, session, **kw)  # type: ignore[arg-type]


def command(name: str, path: Path, tmp_path: Path) -> list[str | Path]:
    extra: list[str | Path] = ["-o", tmp_path / "out.svg"] if name == "plot" else []
    return [name, path, *extra]


def no_crash(result: object) -> None:
    stderr = getattr(result, "stderr", "")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr


@pytest.mark.parametrize("name", READERS)
def test_invalid_utf8_is_one_bad_line_with_file_and_line(tmp_path: Path, name: str) -> None:
    """A 0xE9 byte in a model name: that line is skipped and named as file:line, the good
    lines are analysed, never an internal error (issue 12, item 1)."""
    log = tmp_path / "s" / "token-usage.jsonl"
    log.parent.mkdir()
    good = line(fresh=10).encode()
    broken = good.replace(b"claude-opus-4-8", b"claude-\xe9")
    log.write_bytes(good + broken + good)
    result = run_cli(*command(name, log, tmp_path))
    no_crash(result)
    assert f"{log}:2: not UTF-8" in result.stdout + result.stderr
    assert result.returncode == (1 if name == "validate" else 0), result.stderr
    if name == "validate":
        assert "2 valid, 1 invalid line" in result.stderr


@pytest.mark.parametrize("name", READERS)
def test_unreadable_directory_and_log_are_named_and_the_rest_analysed(
    tmp_path: Path, name: str
) -> None:
    """A session directory that cannot be listed and a log that cannot be read: each named
    in a warning, the readable session analysed, exit status 1 (issue 12, item 2)."""
    root = tmp_path / "sessions"
    for session in ("ok", "locked", "closed"):
        (root / session).mkdir(parents=True)
        (root / session / "token-usage.jsonl").write_text(line(session=session, fresh=7))
    (root / "locked").chmod(0)
    (root / "closed" / "token-usage.jsonl").chmod(0)
    try:
        result = run_cli(*command(name, root, tmp_path), without_root_override=True)
    finally:
        (root / "locked").chmod(0o700)
    no_crash(result)
    assert result.returncode == 1, result.stderr
    assert f"cannot be read: {root / 'locked'}: Permission denied" in result.stderr
    closed = root / "closed" / "token-usage.jsonl"
    assert f"cannot be read: {closed}: Permission denied" in result.stderr
    if name == "validate":
        assert "1 valid, 0 invalid lines, 2 unreadable" in result.stderr
    if name in ("report", "cache"):
        assert "\nok " in result.stdout or "session ok" in result.stdout


def test_a_log_that_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    """A `token-usage.jsonl` that is a directory or a symbolic link is not read, and the
    run says so and exits 1 (issue 12, item 2)."""
    root = tmp_path / "sessions"
    (root / "ok").mkdir(parents=True)
    (root / "ok" / "token-usage.jsonl").write_text(line(session="ok", fresh=7))
    (root / "dir" / "token-usage.jsonl").mkdir(parents=True)
    (root / "link").mkdir()
    (root / "link" / "token-usage.jsonl").symlink_to(root / "ok" / "token-usage.jsonl")
    result = run_cli("report", root, "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["total"]["calls"] == 1
    for where in ("dir", "link"):
        assert f"{root / where / 'token-usage.jsonl'}: not a regular file" in result.stderr


def test_every_command_rejects_the_same_lines(tmp_path: Path) -> None:
    """One definition of a valid line: report, cost, cache and validate count the same
    lines as bad. A `ts` of "yesterday" makes no day called "yesterday"; a count past u64
    is a bad line, not a $11 trillion cost (issue 12, item 3)."""
    good = line(fresh=100, out=10)

    def edit(**changes: object) -> str:
        values = json.loads(good)
        values.update(changes)
        return json.dumps({k: v for k, v in values.items() if v != "-"}) + "\n"

    bad_lines = [
        edit(ts="yesterday"),
        edit(ts="2026-02-30T10:00:00Z"),  # no such day
        edit(ts="2026-06-15T10:00:00"),  # no offset
        edit(ts="0001-01-01T00:30:00+01:00"),  # before year 1 in UTC
        edit(input_tokens=U64_MAX + 1),
        edit(output_tokens=10.0),
        edit(system_tokens=2**32),  # past u32
        edit(budget_limit=-1),  # a field the report never reads
        edit(truncation_occurred=0),
        edit(trace_id="XYZ"),
        edit(model="-"),  # missing
    ]
    edge = edit(input_tokens=U64_MAX)  # valid: the largest u64
    log = tmp_path / "s" / "token-usage.jsonl"
    log.parent.mkdir()
    log.write_text(good + "".join(bad_lines) + edge + good)
    report = run_cli("report", log, "--by", "day", "--format", "json")
    data = json.loads(report.stdout)
    assert [day["day"] for day in data["groups"]] == ["2026-06-15"]
    assert (data["total"]["calls"], data["total"]["bad_lines"]) == (3, len(bad_lines))
    assert data["total"]["input_tokens"] == U64_MAX + 200
    cost = json.loads(run_cli("cost", log, "--format", "json").stdout)
    assert cost["total"]["calls"] == 3
    rows = json.loads(run_cli("cache", log, "--format", "json").stdout)["rows"]
    assert len(rows) == 3
    validate = run_cli("validate", log)
    assert f"3 valid, {len(bad_lines)} invalid lines" in validate.stderr
    reported = [int(text.split(":")[1]) for text in validate.stdout.splitlines()]
    assert reported == list(range(2, 2 + len(bad_lines)))


def test_offsets_are_utc_days_and_times_compare_as_instants(tmp_path: Path) -> None:
    """A `ts` with an offset lands in its UTC day, and `--since`/`--until` compare
    instants, not text (issue 12, item 3)."""
    log = tmp_path / "token-usage.jsonl"
    log.write_text(
        line("2026-06-16T01:30:00+02:00", fresh=1)  # 2026-06-15T23:30Z
        + line("2026-06-15T20:00:00-05:00", fresh=2)  # 2026-06-16T01:00Z
        + line("2026-06-16T00:30:00.000Z", fresh=4)
    )
    days = json.loads(run_cli("report", log, "--by", "day", "--format", "json").stdout)["groups"]
    assert [(d["day"], d["input_tokens"]) for d in days] == [
        ("2026-06-15", 1),
        ("2026-06-16", 6),
    ]
    since = run_cli("report", log, "--since", "2026-06-16T00:45:00Z", "--format", "json")
    assert json.loads(since.stdout)["total"]["input_tokens"] == 2
    until = run_cli("report", log, "--until", "2026-06-16T02:00:00+02:00", "--format", "json")
    assert json.loads(until.stdout)["total"]["input_tokens"] == 1
    assert json.loads(until.stdout)["total"]["last_ts"] == "2026-06-15T23:30:00.000Z"


@pytest.fixture
def mixed_prices(tmp_path: Path) -> Path:
    """Three sessions of a priced model, one session that also calls an unknown one."""
    root = tmp_path / "sessions"
    for index in range(3):
        (root / f"p{index}").mkdir(parents=True)
        (root / f"p{index}" / "token-usage.jsonl").write_text(
            line(session=f"p{index}", fresh=1000, out=100)
        )
    (root / "u").mkdir()
    (root / "u" / "token-usage.jsonl").write_text(
        line(session="u", fresh=1000, out=100) + line(session="u", model="mystery-1", fresh=50)
    )
    return root


def test_an_unpriced_model_keeps_the_priced_subtotal_in_every_format(mixed_prices: Path) -> None:
    """One unknown model does not erase the bill: JSON, CSV and the table give the cost of
    the priced calls and how many calls and tokens have no price (issue 12, item 4)."""
    each = (1000 * 5 + 100 * 25) / 1e6  # Opus 4.8: input 5, output 25 per MTok
    data = json.loads(run_cli("report", mixed_prices, "--format", "json").stdout)
    total = data["total"]
    assert total["cost_usd"] == pytest.approx(4 * each)
    assert (total["unpriced_calls"], total["unpriced_tokens"]) == (1, 50)
    session_u = data["groups"][-1]
    assert session_u["cost_usd"] == pytest.approx(each) and session_u["unpriced_calls"] == 1
    rows = list(
        csv.DictReader(io.StringIO(run_cli("report", mixed_prices, "--format", "csv").stdout))
    )
    assert float(rows[-1]["cost_usd"]) == pytest.approx(4 * each)
    assert (rows[-1]["unpriced_calls"], rows[-1]["unpriced_tokens"]) == ("1", "50")
    table = run_cli("report", mixed_prices)
    assert f"{4 * each:,.4f}*" in table.stdout
    assert "1 calls (50 tokens) have no known price (anthropic/mystery-1)" in table.stdout
    cost = json.loads(run_cli("cost", mixed_prices, "--format", "json").stdout)
    assert cost["total"]["cost_usd"] == pytest.approx(4 * each)
    assert cost["total"]["unpriced_calls"] == 1
    assert "no price known for anthropic/mystery-1 (1 calls)" in table.stderr


def test_sums_past_u64_are_exact_in_every_format(tmp_path: Path) -> None:
    """Counts at the u64 maximum add up past it: JSON (report and cache), CSV and the table
    show the exact integers, never a crash (issue 12, item 5; issue 9, item 10)."""
    log = tmp_path / "token-usage.jsonl"
    big = line(fresh=0).replace('"input_tokens":0', f'"input_tokens":{U64_MAX}')
    big = big.replace('"cache_read_input_tokens":0', f'"cache_read_input_tokens":{U64_MAX}')
    log.write_text(big * 3)
    result = run_cli("report", log, "--format", "json")
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["input_tokens"] == 3 * U64_MAX
    assert total["prompt_tokens"] == 6 * U64_MAX
    rows = list(csv.DictReader(io.StringIO(run_cli("report", log, "--format", "csv").stdout)))
    assert int(rows[-1]["input_tokens"]) == 3 * U64_MAX
    assert f"{3 * U64_MAX:,}" in run_cli("report", log).stdout
    cache = run_cli("cache", log, "--format", "json")
    assert cache.returncode == 0, cache.stderr
    assert json.loads(cache.stdout)["rows"][0]["prompt_tokens"] == 2 * U64_MAX
    cost = run_cli("cost", log, "--format", "json")
    assert json.loads(cost.stdout)["groups"][0]["input_tokens"] == 3 * U64_MAX


def test_the_ttl_label_says_what_was_computed(tmp_path: Path) -> None:
    """`--ttl 30m` shows in the session summary and the plot title; without it the TTL in
    force is named (issue 12, item 6)."""
    log = tmp_path / "token-usage.jsonl"
    log.write_text(
        line("2026-06-15T10:00:00.000Z", fresh=100, write=2000)
        + line("2026-06-15T10:20:00.000Z", fresh=100, write=2000)
    )
    forced = run_cli("cache", log, "--ttl", "30m")
    assert "TTL 30m (--ttl)" in forced.stdout and "TTL 5m" not in forced.stdout
    assert "; TTL 5m;" in run_cli("cache", log).stdout
    timeline = CacheTimeline(ttl_s=1800)
    rows = list(timeline.rows(read_calls(find_logs(log))))
    figure = _draw("s", deque(map(_round, rows)), timeline.sessions[0], 0.5)
    assert figure.axes[0].get_title() == "session s: 2 calls, 2 cold, TTL 30m (--ttl)"


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    """Model, provider and session names holding ESC, NUL, other C0/C1 characters and DEL
    are escaped in every table and warning (issue 9, item 10)."""
    hostile = "x\x1b]0;owned\x07\x00\x9b2J\x7f"
    root = tmp_path / "sessions"
    (root / "s").mkdir(parents=True)
    (root / "s" / "token-usage.jsonl").write_text(
        line(session=f"s{hostile}", model=f"m{hostile}", provider=f"p{hostile}", fresh=5)
        + "garbage\n"
    )
    outputs = [
        run_cli("report", root),
        run_cli("report", root, "--by", "model"),
        run_cli("cost", root),
        run_cli("cache", root),
        run_cli("validate", root / "s" / "token-usage.jsonl"),
    ]
    for result in outputs:
        no_crash(result)
        for text in (result.stdout, result.stderr):
            assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)
    assert "x\\x1b]0;owned\\x07\\x00\\x9b2J\\x7f" in outputs[0].stdout
    assert "mx\\x1b" in outputs[1].stdout and "no price known for px\\x1b" in outputs[1].stderr
    assert "session sx\\x1b" in outputs[3].stdout
    # JSON keeps the exact text (escaped by JSON itself).
    data = json.loads(run_cli("report", root, "--format", "json").stdout)
    assert data["groups"][0]["session_id"] == f"s{hostile}"
