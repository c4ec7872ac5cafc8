"""Ingest throughput: `token-usage ingest` against merely decoding the same file.

What it does, in one run:

1. Builds a fleet's trace file with the OpenTelemetry project's JSON file exporter
   (`opentelemetry-exporter-otlp-json-file`): `--spans` LLM-call spans (default 100,000)
   over `--sessions` sessions (default 5,000), exported in batches of 512, one OTLP JSON
   line per batch. Sessions interleave as in a fleet where all of them are busy at once:
   the calls come in rounds, each round one call of every session in a shuffled order,
   so a batch touches about 500 sessions and a session's next call comes about
   `--sessions` spans later (the hardest case for keeping a session's work together).
2. Times `token-usage ingest FILE` (a fresh subprocess: interpreter start and imports
   included) against the floor, a fresh subprocess that only reads the file and decodes
   every line with `orjson.loads` (msgspec's generic decoder is timed too, for
   reference). The floor is run once to warm the page cache, then all `--repeat` times
   (default 5), interleaved.
3. Checks that every span became exactly one line (the logs hold each trace and span id
   once, in the session of its conversation id, in the order the spans were made) and
   that a re-run adds none (the logs stay byte for byte the same); exit status 1 if not.
4. Prints spans per second (best run), the ratio to the floor (target <= 3x): the
   median of the runs' ratios, each run timing the floors and ingest back to back (so a
   moment of load elsewhere weighs on both sides), and the ratio of the best runs, in
   wall and CPU time; the re-run's time; and the largest resident set of the ingest
   process. Each run writes into a new sessions directory, all removed at the end (ext4
   slows the creation of files for a while after many were deleted).
5. To show the file system's share: the same ingest with the logs on a memory file
   system (`/dev/shm`, when there is one), and a plain loop making the same number of
   session directories and logs of the same size on the disk.

Run: `.venv/bin/python benchmarks/ingest.py` (about two minutes; `--spans 20000
--sessions 1000 --repeat 1` for a quick look). `--dir DIR` keeps the trace file there,
and uses it again when run again with the same `--spans` and `--sessions`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import orjson
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue

from exporter import chat_attributes, finished_spans  # same folder: run as a script

BATCH = 512
LOG = "token-usage.jsonl"

MEMORY = Path("/dev/shm")
FILES = """\
import os, sys
root, sessions, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.mkdir(root, 0o700)
data = b"x" * (size - 1) + b"\\n"
for n in range(sessions):
    directory = os.path.join(root, f"s{n}")
    os.mkdir(directory, 0o700)
    fd = os.open(os.path.join(directory, "token-usage.jsonl"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, data)
    os.close(fd)
"""

FLOOR = {
    "orjson": "import orjson, sys\nfor line in open(sys.argv[1], 'rb'):\n    orjson.loads(line)\n",
    "msgspec": (
        "import msgspec, sys\ndecode = msgspec.json.decode\n"
        "for line in open(sys.argv[1], 'rb'):\n    decode(line)\n"
    ),
}


def fleet_order(spans: int, sessions: int, seed: int = 14) -> list[int]:
    """The session of each span, in the order the spans end: rounds of one call per
    session, each round shuffled."""
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < spans:
        round_ = list(range(sessions))
        rng.shuffle(round_)
        order.extend(round_[: spans - len(order)])
    return order


def make_spans(spans: int, sessions: int) -> list[ReadableSpan]:
    turns: dict[int, int] = defaultdict(int)

    def call(index: int, session: int) -> dict[str, AttributeValue]:
        turn = turns[session]
        turns[session] += 1
        return chat_attributes(index, f"conv-{session:05d}", 2 * turn + 1)

    return finished_spans(
        (call(index, session) for index, session in enumerate(fleet_order(spans, sessions))),
        Resource.create({"service.name": "agent-fleet"}),
        "bench.fleet",
    )


def write_file(spans: Sequence[ReadableSpan], path: Path) -> None:
    exporter = FileSpanExporter(path)
    for first in range(0, len(spans), BATCH):
        exporter.export(spans[first : first + BATCH])
    exporter.shutdown()


def ingest_command(traces: Path, sessions: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "otel_token_usage",
        "ingest",
        str(traces),
        "--sessions-dir",
        str(sessions),
    ]


class Run(NamedTuple):
    seconds: float
    cpu: float
    """User + system CPU seconds."""
    rss: int
    """Peak resident set, kB."""
    out: str


def run(command: list[str]) -> Run:
    """One fresh process: its wall and CPU time, peak memory and stdout."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own figures
        elapsed = time.perf_counter() - start
        process.stdout.close()
        process.returncode = status
        if status != 0:
            err.seek(0)
            sys.exit(f"{command[2:4]} failed ({status}): {err.read().decode()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(elapsed, cpu, int(usage.ru_maxrss), out.decode())


def run_ingest(traces: Path, sessions: Path) -> Run:
    """`token-usage ingest` into a new sessions directory. What earlier runs wrote is
    synced to disk first, outside the timing, and removed only at the end: ext4 slows
    the creation of files while it has many just deleted."""
    os.sync()
    return run(ingest_command(traces, sessions))


def run_floor(name: str, traces: Path) -> Run:
    return run([sys.executable, "-c", FLOOR[name], str(traces)])


def logs(sessions: Path) -> dict[str, bytes]:
    return {path.parent.name: path.read_bytes() for path in sessions.glob(f"*/{LOG}")}


def expected(traces: Path) -> dict[str, list[tuple[str, str]]]:
    """Each session's (trace id, span id) pairs, in the order of the file, read from the
    file itself with orjson."""
    want: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with traces.open("rb") as file:
        for line in file:
            spans = [
                span
                for resource in orjson.loads(line)["resourceSpans"]
                for scope in resource["scopeSpans"]
                for span in scope["spans"]
            ]
            spans.sort(key=lambda span: int(span["endTimeUnixNano"]))
            for span in spans:
                attrs = {item["key"]: item["value"] for item in span["attributes"]}
                session = attrs["gen_ai.conversation.id"]["stringValue"]
                want[session].append((span["traceId"], span["spanId"]))
    return want


def check(traces: Path, sessions: Path) -> list[str]:
    """What is wrong with the logs (empty when every span of the file is exactly one
    line, in the log of its conversation id, in the order of the file)."""
    want = expected(traces)
    got: dict[str, list[tuple[str, str]]] = {}
    for name, data in logs(sessions).items():
        lines = [orjson.loads(line) for line in data.splitlines()]
        if any(line["session_id"] != name for line in lines):
            return [f"{name}: a line of another session"]
        got[name] = [(line["trace_id"], line["span_id"]) for line in lines]
    problems = []
    if set(got) != set(want):
        problems.append(f"{len(got)} session logs, expected {len(want)}")
    wrong = [name for name in want if got.get(name) != want[name]]
    if wrong:
        problems.append(f"{len(wrong)} sessions whose lines are not their spans: {wrong[0]}")
    return problems


def build(traces: Path, spans: int, sessions: int) -> None:
    """Write the trace file in a child process, so that this one stays small (a child's
    peak memory, as the kernel reports it, counts what it shared with its parent)."""
    command = [sys.executable, __file__, "--build", str(traces)]
    subprocess.run([*command, "--spans", str(spans), "--sessions", str(sessions)], check=True)


def run_files(root: Path, sessions: int, size: int) -> Run:
    """The file system's part alone: a plain loop making `sessions` directories, each
    with one log of `size` bytes written at once, as the writer makes them."""
    os.sync()
    return run([sys.executable, "-c", FILES, str(root), str(sessions), str(size)])


def ratios(runs: list[Run], floors: list[Run]) -> tuple[float, str]:
    """The median of the runs' ratios to the floor timed just before, and them all."""
    each = [done.seconds / floor.seconds for done, floor in zip(runs, floors, strict=True)]
    return statistics.median(each), ", ".join(f"{ratio:.2f}x" for ratio in each)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="keep the trace file here, for later runs")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build is not None:
        write_file(make_spans(args.spans, args.sessions), args.build)
        return

    root = args.dir or Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    memory = Path(tempfile.mkdtemp(prefix="ingest-bench-", dir=MEMORY)) if MEMORY.is_dir() else None
    traces = root / f"fleet-{args.spans}-{args.sessions}.json"
    try:
        started = time.perf_counter()
        if not traces.exists():
            build(traces, args.spans, args.sessions)
        print(
            f"{args.spans:,} LLM spans over {args.sessions:,} sessions, batches of {BATCH}, "
            f"written by opentelemetry-exporter-otlp-json-file: "
            f"{traces.stat().st_size / 1e6:.0f} MB ({time.perf_counter() - started:.0f} s)"
        )

        run_floor("orjson", traces)  # warm the page cache
        runs: dict[str, list[Run]] = defaultdict(list)
        for number in range(args.repeat):
            for name in FLOOR:
                runs[name].append(run_floor(name, traces))
            sessions = root / f"sessions-{number}"
            runs["ingest"].append(run_ingest(traces, sessions))
            if memory is not None:
                runs["in memory"].append(run_ingest(traces, memory / f"sessions-{number}"))
            size = sum(path.stat().st_size for path in sessions.glob(f"*/{LOG}"))
            runs["files"].append(
                run_files(root / f"files-{number}", args.sessions, size // args.sessions)
            )
        best = {name: min(done, key=lambda r: r.seconds) for name, done in runs.items()}

        problems = check(traces, sessions)
        before = logs(sessions)
        start = time.perf_counter()
        rerun = subprocess.run(
            ingest_command(traces, sessions), capture_output=True, text=True, check=False
        )
        rerun_seconds = time.perf_counter() - start
        if rerun.returncode != 0 or not rerun.stdout.startswith("0 new lines"):
            problems.append(f"the re-run said: {rerun.stdout.strip()} {rerun.stderr.strip()}")
        if logs(sessions) != before:
            problems.append("the re-run changed the logs")

        ingest, floor = best["ingest"], best["orjson"]
        print(f"  {ingest.out.strip()}")
        print(f"best of {args.repeat}, each a fresh process (CPU: user + system):")
        labels = {
            "ingest": "token-usage ingest",
            "in memory": "  the same, logs on tmpfs",
            **{name: f"{name} decode (floor)" for name in FLOOR},
        }
        for name, label in labels.items():
            if name in best:
                done = best[name]
                print(
                    f"  {label:<26} {args.spans / done.seconds:>9,.0f} spans/s  "
                    f"({done.seconds:.2f} s, CPU {done.cpu:.2f} s)"
                )
        files = best["files"]
        print(
            f"  making the {args.sessions:,} session directories and logs alone (a plain "
            f"loop, same sizes): {files.seconds:.2f} s, CPU {files.cpu:.2f} s"
        )
        median, each = ratios(runs["ingest"], runs["orjson"])
        print(f"  ingest vs orjson floor:  {median:.2f}x (target <= 3x), the median of: {each}")
        print(
            f"    best against best {ingest.seconds / floor.seconds:.2f}x, "
            f"CPU {ingest.cpu / floor.cpu:.2f}x; "
            f"vs msgspec floor {ingest.seconds / best['msgspec'].seconds:.2f}x"
        )
        if "in memory" in runs:
            median, each = ratios(runs["in memory"], runs["orjson"])
            print(f"    with the logs on tmpfs: {median:.2f}x, the median of: {each}")
        print(f"  re-run (adds nothing):   {rerun_seconds:.2f} s")
        print(f"  ingest peak memory:      {max(r.rss for r in runs['ingest']) / 1024:.0f} MB")
        if problems:
            print("FAILED: " + "; ".join(problems))
            sys.exit(1)
        print(f"checked: {args.spans:,} spans, {args.spans:,} lines, each once; re-run added none")
    finally:
        if memory is not None:
            shutil.rmtree(memory, ignore_errors=True)
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for made in [*root.glob("sessions-*"), *root.glob("files-*")]:
                shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
