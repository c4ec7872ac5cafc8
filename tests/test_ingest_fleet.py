"""`token-usage ingest` at fleet shape: many sessions interleaved in one file, bounded
work per span and bounded memory, re-runs, following, and shards in separate processes.

Real parts only: spans from the real SDK, written by the real
`opentelemetry-exporter-otlp-json-file` exporter in batches (one OTLP line per batch),
the logs `TokenUsageSpanExporter` writes for the same batches as the reference, real
session logs in tmp_path, and the command run as subprocesses.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_token_usage import TokenUsageSpanExporter
from otel_token_usage import semconv as a
from otel_token_usage.export import record_line
from otel_token_usage.ingest import Ingestor, ingest_files, shard_of
from otel_token_usage.ingest._log_index import SESSION_WEIGHT
from otel_token_usage.ingest._tail import read_once
from otel_token_usage.record import LOG_FILE_NAME, encode_lines

from .test_ingest import (
    following,
    ingest,
    log_count,
    log_lines,
    logs,
    wait_for,
    with_attributes,
)


def fleet_spans(sessions: int, calls: int, seed: int = 14) -> list[ReadableSpan]:
    """`calls` LLM spans for each of `sessions` sessions, ending as in a fleet where all
    of them are busy at once: rounds of one call per session, each round shuffled."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.fleet")
    rng = random.Random(seed)
    for turn in range(calls):
        order = list(range(sessions))
        rng.shuffle(order)
        for session in order:
            attrs = with_attributes(
                a.GEN_AI_CONVERSATION_ID,
                f"conv-{session}",
                a.GEN_AI_RESPONSE_ID,
                f"msg-{session}-{turn}",
                a.GEN_AI_USAGE_OUTPUT_TOKENS,
                100 + turn,
                a.TOKEN_USAGE_MESSAGE_COUNT,
                2 * turn + 1,
            )
            with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes=attrs):
                pass
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def batches(spans: Sequence[ReadableSpan], size: int) -> list[Sequence[ReadableSpan]]:
    return [spans[first : first + size] for first in range(0, len(spans), size)]


def write_traces(spans: Sequence[ReadableSpan], path: Path, batch: int) -> None:
    """The file the OpenTelemetry JSON file exporter writes: one OTLP line per batch."""
    exporter = FileSpanExporter(path)
    for part in batches(spans, batch):
        exporter.export(part)
    exporter.shutdown()


def exporter_logs(spans: Sequence[ReadableSpan], root: Path, batch: int) -> dict[str, bytes]:
    """The logs TokenUsageSpanExporter writes for the same batches: the reference."""
    exporter = TokenUsageSpanExporter(root)
    for part in batches(spans, batch):
        exporter.export(part)
    exporter.shutdown()
    return logs(root)


def test_interleaved_sessions_are_read_once_and_written_once_each(tmp_path: Path) -> None:
    """300 sessions interleaved across 19 OTLP lines: the logs equal the exporter's, byte
    for byte and in input order; each session's log is read once and written once."""
    spans = fleet_spans(300, 4)
    traces = tmp_path / "fleet.json"
    write_traces(spans, traces, 64)
    want = exporter_logs(spans, tmp_path / "expected", 64)

    stats = ingest([traces], tmp_path / "sessions")
    assert logs(tmp_path / "sessions") == want
    assert (stats.written, stats.calls, stats.skipped) == (1200, 1200, 0)
    assert stats.logs_read == 300
    assert stats.writes == 300


def test_rerun_over_a_fleet_file_adds_nothing(tmp_path: Path) -> None:
    """Run twice over the same file (and once over two copies of it): nothing is added,
    each log is read once per run, and nothing is written."""
    spans = fleet_spans(120, 3)
    traces = tmp_path / "fleet.json"
    write_traces(spans, traces, 50)
    sessions = tmp_path / "sessions"
    ingest([traces], sessions)
    once = logs(sessions)

    again = ingest([traces], sessions)
    assert (again.written, again.present, again.writes, again.logs_read) == (0, 360, 0, 120)
    twice = ingest([traces, traces], sessions)
    assert (twice.written, twice.present + twice.duplicates) == (0, 720)
    assert logs(sessions) == once


@pytest.mark.parametrize("pending", [8192, 1 << 30], ids=["written-often", "written-at-end"])
def test_bounded_memory_evicts_and_reads_logs_again_still_exactly_once(
    tmp_path: Path, pending: int
) -> None:
    """Held ids bounded to about 25 of 200 sessions: indexes are set aside and logs read
    again, the bound holds after every line, and the logs are still the exporter's,
    exactly once each, in order, whether new lines are written often or only at the end
    (then a session's index is set aside while its lines still wait). Spans repeated
    late in the file (their response ids renamed, so only their span ids can tell) and
    a re-run with the same bound add nothing."""
    spans = fleet_spans(200, 4)
    traces = tmp_path / "fleet.json"
    write_traces(spans, traces, 40)
    want = exporter_logs(spans, tmp_path / "expected", 40)
    lines = traces.read_bytes().splitlines(keepends=True)
    repeats = [line.replace(b'"gen_ai.response.id"', b'"renamed"') for line in lines[:3]]
    traces.write_bytes(b"".join(lines + repeats))

    bound = 25 * (4 + SESSION_WEIGHT)
    sessions = tmp_path / "sessions"
    for run in range(2):
        with Ingestor(sessions, max_held_ids=bound, max_pending_bytes=pending) as ingestor:
            for line in read_once([str(traces)]):
                ingestor.feed(line)
                assert ingestor.held_ids <= bound + 4 + SESSION_WEIGHT
        stats = ingestor.stats
        assert logs(sessions) == want
        assert stats.written == (800 if run == 0 else 0)
        assert stats.present == (120 if run == 0 else 920)
        assert stats.logs_read > 200  # set aside and read again


def _log_with_calls(root: Path, session: str, count: int) -> None:
    """A session log that already holds `count` calls (written as the exporter would)."""
    lines = []
    for n in range(count):
        line = record_line(
            with_attributes(a.GEN_AI_CONVERSATION_ID, session),
            1_781_000_000_000_000_000 + n,
            None,
            hash(session) % 2**64 + 1,
            n + 1,
        )
        assert line is not None
        lines.append(line)
    (root / session).mkdir(parents=True)
    (root / session / LOG_FILE_NAME).write_bytes(encode_lines(lines))


def _peak_memory(root: Path, sessions: int, bound: int) -> int:
    for n in range(sessions):
        _log_with_calls(root, f"conv-{n}", 40)
    traces = root.parent / f"{root.name}.json"
    write_traces(fleet_spans(sessions, 1), traces, 100)
    tracemalloc.start()
    try:
        with Ingestor(root, max_held_ids=bound, max_pending_bytes=65_536) as ingestor:
            stats = ingest_files([str(traces)], ingestor)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (stats.written, stats.logs_read) == (sessions, sessions)
    return peak


def test_memory_does_not_grow_with_the_sessions_a_file_touches(tmp_path: Path) -> None:
    """Each session's log already holds 40 calls. A file touching 600 such sessions
    peaks at about the memory of one touching 150 (holding every index would take
    about 2 MB more): the held ids are bounded, not the sessions."""
    bound = 2_000
    small = _peak_memory(tmp_path / "small", 150, bound)
    large = _peak_memory(tmp_path / "large", 600, bound)
    assert large - small < 1_000_000, (small, large)


def _fleet_to_follow(
    tmp_path: Path,
) -> tuple[list[ReadableSpan], dict[str, bytes], list[bytes], Path]:
    """A fleet's spans (40 sessions, 5 calls each) as OTLP lines of 20 spans, the logs
    the exporter writes for them, and an empty traces file to grow with those lines."""
    spans = fleet_spans(40, 5)
    whole = tmp_path / "whole.json"
    write_traces(spans, whole, 20)
    want = exporter_logs(spans, tmp_path / "expected", 20)
    path = tmp_path / "traces.json"
    path.write_bytes(b"")
    return spans, want, whole.read_bytes().splitlines(keepends=True), path


def test_follow_keeps_up_without_reading_logs_again(tmp_path: Path) -> None:
    """A file growing by a fleet's batches while followed: every call lands once, in
    order, and each session's log is read once for the whole run."""
    spans, want, lines, path = _fleet_to_follow(tmp_path)
    sessions = tmp_path / "sessions"
    with following(path, sessions) as ingestor:
        for step in range(0, len(lines), 2):
            with path.open("ab") as file:
                file.write(b"".join(lines[step : step + 2]))
            written = min(len(spans), (step + 2) * 20)

            def caught_up(n: int = written) -> bool:
                return log_count(sessions) == n

            wait_for(caught_up)
    assert logs(sessions) == want
    assert ingestor.stats.logs_read == 40


def test_follow_does_not_write_per_batch(tmp_path: Path) -> None:
    """A file growing one batch at a time is caught up with after every batch; within
    the write interval nothing is written, and at the end each session's lines are one
    append, not one per batch."""
    _spans, want, lines, path = _fleet_to_follow(tmp_path)
    sessions = tmp_path / "sessions"
    with following(path, sessions, write_interval=3600) as ingestor:
        for number, line in enumerate(lines, 1):
            with path.open("ab") as file:
                file.write(line)

            def read(n: int = number) -> bool:
                return ingestor.stats.lines == n

            wait_for(read)
        assert log_count(sessions) == 0
    assert logs(sessions) == want
    assert ingestor.stats.writes == 40


def _run_together(*commands: list[str]) -> None:
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Traceback" not in err


def _command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "otel_token_usage", "ingest", *map(str, args)]


def test_two_processes_on_two_shards_write_what_one_process_writes(tmp_path: Path) -> None:
    """A fleet's spans split in two by session (as a collector routing by session would
    write them), ingested by two processes at once into one sessions directory, give
    byte for byte the logs of one process over all of them; so do two processes that
    read the whole file with `--shard 0/2` and `--shard 1/2`, each into its own
    directory."""
    spans = fleet_spans(60, 5)
    whole = tmp_path / "whole.json"
    write_traces(spans, whole, 32)
    halves = []
    for shard in range(2):
        mine = [
            span
            for span in spans
            if span.attributes is not None
            and shard_of(str(span.attributes[a.GEN_AI_CONVERSATION_ID]), 2) == shard
        ]
        assert 0 < len(mine) < len(spans)
        halves.append(tmp_path / f"half-{shard}.json")
        write_traces(mine, halves[-1], 32)

    one = tmp_path / "one"
    _run_together(_command(whole, "--sessions-dir", one))
    want = logs(one)
    assert len(want) == 60

    two = tmp_path / "two"
    _run_together(*(_command(half, "--sessions-dir", two) for half in halves))
    assert logs(two) == want

    shards = [tmp_path / "shard-0", tmp_path / "shard-1"]
    _run_together(
        *(_command(whole, "--shard", f"{k}/2", "--sessions-dir", shards[k]) for k in range(2))
    )
    assert logs(shards[0]).keys().isdisjoint(logs(shards[1]))
    assert logs(shards[0]) | logs(shards[1]) == want
    assert len(log_lines(shards[0])) + len(log_lines(shards[1])) == 300
