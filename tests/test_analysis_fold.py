"""The fast paths of the report's fold agree with the plain line-by-line path: blocks cut
into days, blocks that change model, worker processes."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_token_usage.analysis import summarize
from otel_token_usage.analysis._reader import _count_lines

from .helpers import log_line

OPUS = "claude-opus-4-8"
SONNET = "claude-sonnet-4-5"  # priced in two tiers: prompts over 200k cost more


def rec(
    ts: str,
    session: str = "s",
    model: str = OPUS,
    *,
    fresh: int = 100,
    read: int = 0,
    write: int = 0,
    write_1h: int | None = None,
    out: int = 10,
    provider: str = "anthropic",
) -> bytes:
    return log_line(
        ts,
        session,
        model=model,
        provider=provider,
        message_count=1,
        fresh=fresh,
        read=read,
        write=write,
        write_1h=write_1h,
        out=out,
        think=out // 2,
    ).encode()


def stamp(day: int, second: int) -> str:
    return f"2026-06-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000Z"


def fast_and_slow(tmp_path: Path, lines: list[bytes]) -> tuple[Path, Path]:
    """The same lines twice: as they are, and followed by a torn line, which sends every
    block to the line-by-line path."""
    fast, slow = tmp_path / "fast" / "s", tmp_path / "slow" / "s"
    fast.mkdir(parents=True)
    slow.mkdir(parents=True)
    (fast / "token-usage.jsonl").write_bytes(b"".join(lines))
    (slow / "token-usage.jsonl").write_bytes(b"".join(lines) + b'{"ts":"2026')
    return fast, slow


def same_report(fast: Path, slow: Path) -> None:
    for by in ("session", "model", "day"):
        quick = summarize(fast, by=by).as_dict()
        careful = summarize(slow, by=by).as_dict()
        careful["total"]["bad_lines"] = 0
        for group in careful["groups"]:
            group["bad_lines"] = 0
        assert (quick["groups"], quick["total"]) == (careful["groups"], careful["total"])


@pytest.mark.parametrize("order", ["in time order", "shuffled", "offsets"])
def test_a_block_over_several_days_sums_like_the_line_by_line_path(
    tmp_path: Path, order: str
) -> None:
    """Lines over three days are cut into days by bisection when in time order, by
    grouping otherwise, and stamps with offsets land in their UTC day: all three give the
    line-by-line path's numbers."""
    rng = random.Random(5)
    lines = [
        rec(stamp(15 + i // 40, (i * 2000) % 86_400), fresh=i, read=rng.randrange(250_000))
        for i in range(120)
    ]
    if order == "shuffled":
        rng.shuffle(lines)
    if order == "offsets":
        lines[50:50] = [rec("2026-06-16T01:30:00+02:00"), rec("2026-06-15T22:00:00.5-05:00")]
    fast, slow = fast_and_slow(tmp_path, lines)
    same_report(fast, slow)


def test_a_file_whose_model_changes_between_blocks_sums_like_the_line_by_line_path(
    tmp_path: Path,
) -> None:
    """A log longer than one block whose later calls use another model (and another
    provider) is summed like the line-by-line path sums it."""
    lines = [rec(stamp(15, i), model=OPUS, fresh=i) for i in range(1200)]
    lines += [rec(stamp(15, 2000 + i), model=SONNET, read=199_000 + i) for i in range(1200)]
    lines += [rec(stamp(16, i), model="gpt-5", provider="openai") for i in range(300)]
    fast, slow = fast_and_slow(tmp_path, lines)
    assert (fast / "token-usage.jsonl").stat().st_size > 1 << 20
    same_report(fast, slow)


def test_counting_lines_agrees_with_bytes_count() -> None:
    """The newline count used for blocks equals `bytes.count`, for long lines, short lines,
    blank lines and a torn end."""
    rng = random.Random(9)
    for _ in range(500):
        lengths = rng.choice([(0, 3), (0, 40), (200, 900)])
        block = b"".join(
            b"x" * rng.randrange(*lengths) + b"\n" for _ in range(rng.randrange(0, 60))
        ) + b"y" * rng.randrange(0, 5)
        assert _count_lines(block) == block.count(b"\n")


def run_report(root: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_TOKEN_USAGE_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "otel_token_usage", "report", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_worker_processes_give_the_report_of_one_process(tmp_path: Path) -> None:
    """With two worker processes (one file with Sonnet prompts on both sides of the 200k
    price tier) the report equals the one made in a single process: sums, costs and bad
    lines."""
    for index in range(6):
        model = SONNET if index % 2 == 0 else OPUS
        lines = [
            rec(stamp(15 + i // 50, i * 1500 % 86_400), f"s{index}", model, read=1000 * i)
            for i in range(120)
        ]
        if index == 0:
            lines.append(rec(stamp(16, 80_000), "s0", SONNET, read=260_000))
        if index == 1:
            lines.insert(3, b"garbage\n")
        directory = tmp_path / f"s{index}"
        directory.mkdir()
        (directory / "token-usage.jsonl").write_bytes(b"".join(lines))
    single = run_report(tmp_path, "--format", "json", "--jobs", "1")
    shared = run_report(tmp_path, "--format", "json", "--jobs", "2")
    assert shared == single
    assert single["total"]["bad_lines"] == 1
    assert single["total"]["calls"] == 6 * 120 + 1


def test_the_command_starts_without_pydantic_price_data_or_the_sdk() -> None:
    """Importing the `token-usage` command loads none of pydantic, genai-prices,
    matplotlib or the OpenTelemetry SDK (they are loaded when a command needs them)."""
    heavy = ("pydantic", "genai_prices", "matplotlib", "opentelemetry.sdk")
    code = (
        "import sys, otel_token_usage.cli\n"
        f"print([name for name in {heavy!r} if name in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
