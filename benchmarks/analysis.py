"""Benchmark: `token-usage report ROOT --format json` against two peers on a generated
sessions tree: DuckDB's `read_json` with the equivalent `GROUP BY session_id`, and pandas
(`read_json(lines=True)` per log, `concat`, `groupby("session_id").sum()`).

Writes `--records` records across `--sessions` session logs (default 1,000,000 across
1,000) into a temporary directory, runs each as a fresh subprocess (ours and DuckDB best
of `--repeat` after a warm-up, interleaved, so both read from the page cache; pandas,
many times slower, once), checks that all give the same per-session and total sums, and
prints the times, the ratios and the peak memory.
Peak memory is the largest resident set of any one process of the run (the command or
one of its workers). Unless `--no-memory-check`, the same number of records is then
written into a tenth of the sessions (ten times the records per session) to show that
peak memory does not grow with the length of a session.

Quick run: `python benchmarks/analysis.py --records 20000 --sessions 50 --repeat 1`.
Needs the `bench` extra (duckdb, pandas).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from otel_token_usage.record import encode_line, format_ts

SUMS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "thinking_tokens",
)
MODELS = ("claude-sonnet-4-5", "claude-opus-4-8")

# Runs a command, then prints its wall time, the CPU time and peak RSS of its process tree.
_WRAPPER = """
import json, resource, subprocess, sys, time
out = open(sys.argv[1], "wb")
start = time.perf_counter()
code = subprocess.call(sys.argv[2:], stdout=out)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"code": code, "seconds": seconds, "peak_kb": usage.ru_maxrss, "cpu_s": cpu}))
"""

_DUCKDB = """
import json, sys, duckdb
query = sys.argv[1]
connection = duckdb.connect()
connection.execute("SET enable_progress_bar = false")  # it would print to stdout
rows = connection.execute(query).fetchall()
json.dump([list(row) for row in rows], sys.stdout)
"""

# What a pandas user would write: every log into one frame, then a group-by.
_PANDAS = """
import glob, json, sys
import pandas as pd
columns = sys.argv[2].split(",")
frames = [pd.read_json(path, lines=True) for path in sorted(glob.glob(sys.argv[1]))]
calls = pd.concat(frames, ignore_index=True)
sums = calls.groupby("session_id")[columns].agg(["count", "sum"])
rows = [
    [session, int(sums.loc[session, (columns[0], "count")])]
    + [int(sums.loc[session, (name, "sum")]) for name in columns]
    for session in sums.index
]
json.dump(rows, sys.stdout)
"""


def generate(root: Path, records: int, sessions: int, seed: int = 7) -> int:
    """Write `records` records spread over `sessions` logs below `root`; returns bytes."""
    rng = random.Random(seed)
    per_session, extra = divmod(records, sessions)
    size = 0
    start_ns = 1_781_481_600 * 10**9  # 2026-06-15T00:00:00Z
    for index in range(sessions):
        count = per_session + (1 if index < extra else 0)
        session = f"session-{index:06d}"
        model = MODELS[index % len(MODELS)]
        directory = root / session
        directory.mkdir(parents=True)
        clock = start_ns + rng.randrange(0, 86_400) * 10**9
        prompt = rng.randrange(4_000, 20_000)
        summary = 0
        one_hour = index % 4 == 0
        lines = []
        for call in range(count):
            clock += rng.randrange(5, 90) * 10**9
            if rng.random() < 0.02:
                clock += rng.randrange(300, 4000) * 10**9  # a pause
            compressed = prompt > 150_000 and rng.random() < 0.2
            if compressed:
                summary = rng.randrange(1_000, 5_000)
                prompt = rng.randrange(20_000, 40_000)
            grown = prompt + rng.randrange(200, 3_000)
            cold = call == 0 or compressed or rng.random() < 0.03
            read = 0 if cold else prompt
            write = grown - read - rng.randrange(0, 200)
            fresh = grown - read - write
            output = rng.randrange(50, 4_000)
            values: dict[str, Any] = {
                "ts": format_ts(clock),
                "session_id": session,
                "model": model,
                "provider": "anthropic",
                "message_count": 2 * call + 1,
                "cache_creation_input_tokens": write,
                "cache_read_input_tokens": read,
                "input_tokens": fresh,
                "output_tokens": output,
                "thinking_tokens": output // 3,
                "system_tokens": 3_000,
                "summary_tokens": summary,
                "window_tokens": grown - 3_000 - summary,
                "total_tokens": grown,
                "max_context_tokens": 200_000,
                "budget_limit": 180_000,
                "prompt_cached_tool_outputs": call % 5,
                "prompt_cached_tool_tokens_saved": (call % 5) * 400,
                "truncation_occurred": False,
                "segments_removed": 12 if compressed else 0,
                "trace_id": f"{rng.getrandbits(128):032x}",
                "span_id": f"{rng.getrandbits(64):016x}",
                "duration_ms": rng.randrange(500, 60_000),
                "cache_creation_5m_input_tokens": 0 if one_hour else write,
                "cache_creation_1h_input_tokens": write if one_hour else 0,
            }
            lines.append(encode_line(values))
            prompt = grown
        data = b"".join(lines)
        (directory / "token-usage.jsonl").write_bytes(data)
        size += len(data)
    return size


def measure(command: list[str], out: Path) -> dict[str, Any]:
    """Run `command` in a fresh wrapper process; its stdout goes to `out`."""
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(out), *command],
        capture_output=True,
        text=True,
        check=True,
    )
    stats: dict[str, Any] = json.loads(result.stdout)
    if stats["code"] != 0:
        raise SystemExit(f"command failed ({stats['code']}): {' '.join(command)}")
    return stats


def ours_command(root: Path) -> list[str]:
    script = Path(sys.executable).with_name("token-usage")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "otel_token_usage"]
    return [*head, "report", str(root), "--format", "json"]


def duckdb_query(root: Path) -> str:
    sums = ", ".join(f"sum({name})::BIGINT" for name in SUMS)
    source = str(root / "*" / "token-usage.jsonl").replace("'", "''")
    return (
        f"SELECT session_id, count(*) AS calls, {sums} "
        f"FROM read_json('{source}', format = 'newline_delimited') GROUP BY session_id"
    )


def pandas_command(root: Path) -> list[str]:
    pattern = str(root / "*" / "token-usage.jsonl")
    return [sys.executable, "-c", _PANDAS, pattern, ",".join(SUMS)]


def run_peers(root: Path, repeat: int, work: Path) -> dict[str, Any]:
    """Time ours and DuckDB (warm-up, then best of `repeat`, interleaved) and pandas
    (once), and compare the sums of all three."""
    ours_out, duck_out, pandas_out = work / "ours.json", work / "duckdb.json", work / "pd.json"
    ours_cmd = ours_command(root)
    duck_cmd = [sys.executable, "-c", _DUCKDB, duckdb_query(root)]
    measure(ours_cmd, ours_out)
    measure(duck_cmd, duck_out)
    ours_runs, duck_runs = [], []
    for _ in range(repeat):
        ours_runs.append(measure(ours_cmd, ours_out))
        duck_runs.append(measure(duck_cmd, duck_out))
    pandas_run = measure(pandas_command(root), pandas_out)
    ours = json.loads(ours_out.read_text())
    same, detail = compare(ours, json.loads(duck_out.read_text()))
    same_pd, detail_pd = compare(ours, json.loads(pandas_out.read_text()))
    return {
        "ours_s": [run["seconds"] for run in ours_runs],
        "duck_s": [run["seconds"] for run in duck_runs],
        "pandas_s": pandas_run["seconds"],
        "ours_cpu_s": min(run["cpu_s"] for run in ours_runs),
        "duck_cpu_s": min(run["cpu_s"] for run in duck_runs),
        "pandas_cpu_s": pandas_run["cpu_s"],
        "ours_peak_mb": max(run["peak_kb"] for run in ours_runs) / 1024,
        "duck_peak_mb": max(run["peak_kb"] for run in duck_runs) / 1024,
        "pandas_peak_mb": pandas_run["peak_kb"] / 1024,
        "same": same and same_pd,
        "detail": f"DuckDB: {detail}; pandas: {detail_pd}",
        "command": " ".join(ours_cmd),
    }


def compare(ours: dict[str, Any], duck: list[list[Any]]) -> tuple[bool, str]:
    """Both per-session sums and the totals must be equal."""
    mine = {s["session_id"]: [s["calls"], *(s[name] for name in SUMS)] for s in ours["groups"]}
    theirs = {row[0]: [int(value) for value in row[1:]] for row in duck}
    if mine != theirs:
        keys = sorted(set(mine) | set(theirs))
        differing = [key for key in keys if mine.get(key) != theirs.get(key)][:3]
        return False, f"per-session sums differ, e.g. {differing}"
    total = ours["total"]
    ours_total = [total["calls"], *(total[name] for name in SUMS)]
    duck_total = [sum(column) for column in zip(*theirs.values(), strict=True)]
    if ours_total != duck_total:
        return False, f"totals differ: {ours_total} vs {duck_total}"
    return True, f"{len(mine)} sessions, {ours_total[0]:,} calls, totals equal"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to write the logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated logs")
    parser.add_argument(
        "--no-memory-check",
        action="store_true",
        help="skip the run with ten times the records per session",
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="token-usage-bench-", dir=args.dir))
    try:
        shapes = [(args.records, args.sessions)]
        if not args.no_memory_check and args.sessions >= 10:
            shapes.append((args.records, args.sessions // 10))
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        results = []
        for records, sessions in shapes:
            root = base / f"{records}-{sessions}"
            started = time.perf_counter()
            size = generate(root, records, sessions)
            print(
                f"\nwrote {records:,} records in {sessions:,} sessions "
                f"({size / 1e6:,.0f} MB) in {time.perf_counter() - started:.1f} s"
            )
            result = run_peers(root, args.repeat, base)
            results.append(result)
            report(result, records)
        if len(results) == 2:
            first, second = results
            print(
                f"\npeak memory, {args.records // args.sessions:,} vs "
                f"{args.records // (args.sessions // 10):,} records per session: "
                f"{first['ours_peak_mb']:.0f} MB vs {second['ours_peak_mb']:.0f} MB"
            )
        return 0 if all(result["same"] for result in results) else 1
    finally:
        if args.keep:
            print(f"logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def report(result: dict[str, Any], records: int) -> None:
    ours, duck = min(result["ours_s"]), min(result["duck_s"])
    print(f"  command: {result['command']}")
    print(
        f"  token-usage report: best {ours:.3f} s, median {statistics.median(result['ours_s']):.3f}"
        f" s ({records / ours / 1e6:.2f} M records/s), peak {result['ours_peak_mb']:.0f} MB"
    )
    print(
        f"  duckdb read_json:   best {duck:.3f} s, median {statistics.median(result['duck_s']):.3f}"
        f" s, peak {result['duck_peak_mb']:.0f} MB"
    )
    print(
        f"  pandas read_json:   {result['pandas_s']:.3f} s (one run), "
        f"peak {result['pandas_peak_mb']:.0f} MB"
    )
    print(f"  ratio (token-usage / duckdb, best runs): {ours / duck:.2f}x (target <= 2.5x)")
    print(
        f"  CPU time (user + system, least of the runs): token-usage "
        f"{result['ours_cpu_s']:.2f} s, duckdb {result['duck_cpu_s']:.2f} s, pandas "
        f"{result['pandas_cpu_s']:.2f} s"
    )
    print(f"  pandas / token-usage: {result['pandas_s'] / ours:.1f}x (target >= 3x)")
    print(f"  same sums: {'yes' if result['same'] else 'NO'} ({result['detail']})")


if __name__ == "__main__":
    sys.exit(main())
