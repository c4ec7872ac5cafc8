"""`token-usage ingest` on input that is wrong in one place: one bad span, bytes that are
not UTF-8, a session log handed over as traces, a FIFO or a directory where a session's
log should be. Each is reported (file and line, or the session), the rest is ingested,
and the run never hangs and never ends in `internal error`.

Real parts only: OTLP lines written by the real `opentelemetry-exporter-otlp-json-file`
exporter and then damaged byte for byte, real FIFOs and directories, the command run as
a subprocess.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_token_usage import semconv as a
from otel_token_usage.ingest import Ingestor, ingest_files
from otel_token_usage.ingest._tail import read_once
from otel_token_usage.record import LOG_FILE_NAME

from .test_ingest import calls, cli, log_lines, logs, otlp_lines, with_attributes

END = 1_781_000_000_000_000_000


def batch_line(session_id: str, count: int) -> bytes:
    """One OTLP line holding `count` spans of `session_id`, as the JSON file exporter
    writes a batch. Span n ends at `END + n` and has `n` output tokens, so that one span
    can be damaged by replacing its `"END + n"` or `"n"`."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.bad")
    for n in range(count):
        attrs = with_attributes(
            a.GEN_AI_CONVERSATION_ID,
            session_id,
            a.GEN_AI_RESPONSE_ID,
            f"{session_id}-{n}",
            a.GEN_AI_USAGE_OUTPUT_TOKENS,
            7_000 + n,
            a.GEN_AI_RESPONSE_MODEL,
            f"model-{n}",
        )
        span = tracer.start_span("chat m", kind=SpanKind.CLIENT, attributes=attrs, start_time=END)
        span.end(end_time=END + n)
    stream = io.StringIO()
    FileSpanExporter(stream=stream).export(memory.get_finished_spans())
    provider.shutdown()
    return stream.getvalue().encode()


def damaged(session_id: str, old: bytes, new: bytes) -> bytes:
    line = batch_line(session_id, 3)
    assert line.count(old) == 1, old
    return line.replace(old, new)


def test_one_bad_span_is_skipped_and_the_rest_ingested(tmp_path: Path) -> None:
    """Spans OTLP cannot carry (an end time past 64 bits of nanoseconds, as text or as a
    number; a 5,000-digit integer, as text or as a number; an integer past 64 bits):
    each is reported as file:line and skipped, the other spans of its line and the lines
    after it are ingested, and the exit status is 1."""
    huge = b"9" * 5000
    bad = [
        damaged("s-1", f'"{END + 1}"'.encode(), b'"1000000000000000000000000000000"'),
        damaged("s-2", f'"{END + 1}"'.encode(), b"99999999999999999999999999"),
        damaged("s-3", b'"7001"', b'"' + huge + b'"'),
        damaged("s-4", b'"7001"', huge),
        damaged("s-5", b'"7001"', b'"18446744073709551616"'),
    ]
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(bad) + otlp_lines(*calls("s-6", 1))[0])
    sessions = tmp_path / "sessions"
    result = cli(traces, "--sessions-dir", sessions)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in errors] == [f"{traces}:{n}" for n in range(1, 6)]
    assert "endTimeUnixNano" in errors[0]
    assert "endTimeUnixNano" in errors[1]
    assert all("gen_ai.usage.output_tokens" in e or "intValue" in e for e in errors[2:])
    assert all(len(line) < 300 for line in errors)
    assert "skipped 5 spans" in result.stdout
    got = {(line["session_id"], line["output_tokens"]) for line in log_lines(sessions)}
    want = {(f"s-{n}", tokens) for n in range(1, 6) for tokens in (7000, 7002)}
    assert got == want | {("s-6", 100)}


def test_bytes_that_are_not_utf8_cost_only_their_span(tmp_path: Path) -> None:
    """A 0xE9 byte in one span's model name: that span is reported as file:line and
    skipped, the rest of its line and the next line are ingested, with and without
    --follow; exit status 1."""
    line = damaged("s-1", b'"model-1"', b'"mod\xe9l-1"')
    traces = tmp_path / "traces.json"
    traces.write_bytes(line + otlp_lines(*calls("s-2", 1))[0])
    for follow in ([], ["--follow-timeout", "0.3", "--poll-interval", "0.05"]):
        sessions = tmp_path / f"sessions{len(follow)}"
        result = cli(traces, "--sessions-dir", sessions, *follow)
        assert result.returncode == 1, result.stderr
        assert "internal error" not in result.stderr
        assert result.stderr.count("\n") == 1
        assert f"{traces}:1: span 'chat m' skipped: not valid UTF-8" in result.stderr
        models = sorted(line["model"] for line in log_lines(sessions))
        assert models == ["claude-opus-4-8", "model-0", "model-2"]


def test_log_lines_with_bytes_not_utf8_are_read_past(tmp_path: Path) -> None:
    """A session log whose lines got a byte that is not UTF-8: in the model name, the
    line is still known by its ids; in its span id, the line names no call, so the call
    is written again (readers skip the damaged line). The run neither stops nor fails."""
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(otlp_lines(*calls("s-1", 3))))
    sessions = tmp_path / "sessions"
    assert cli(traces, "--sessions-dir", sessions).returncode == 0
    log = sessions / "s-1" / LOG_FILE_NAME
    first, second, third = log.read_bytes().splitlines(keepends=True)
    first = first.replace(b'"model":"claude', b'"model":"cl\xe9ude')
    second = second.replace(b'"span_id":"', b'"span_id":"\xe9')
    log.write_bytes(first + second + third)
    result = cli(traces, "--sessions-dir", sessions)
    assert result.returncode == 0, result.stderr
    assert "1 new line in 1 session" in result.stdout
    assert "2 already there" in result.stdout


def test_a_session_log_given_as_traces_is_named_once(tmp_path: Path) -> None:
    """`ingest` handed a session log (lines of token usage, not OTLP) says so in one
    line naming the file, writes nothing, and exits with status 1."""
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(otlp_lines(*calls("s-1", 5))))
    sessions = tmp_path / "sessions"
    assert cli(traces, "--sessions-dir", sessions).returncode == 0
    log = sessions / "s-1" / LOG_FILE_NAME
    before = logs(sessions)
    result = cli(log, "--sessions-dir", sessions)
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert f"{log}:1:" in errors[0]
    assert "session log" in errors[0]
    assert "skipped 5 unreadable lines" in result.stdout
    assert logs(sessions) == before


def test_fifo_or_directory_in_place_of_a_log_goes_to_the_fallback(tmp_path: Path) -> None:
    """A FIFO planted as one session's token-usage.jsonl and a directory as another's:
    ingest neither hangs nor fails; both sessions' lines go to the fallback log, ids
    intact, with a warning naming each; the FIFO and the directory are left as they
    were. (Before, the FIFO blocked ingest forever.)"""
    sessions = tmp_path / "sessions"
    (sessions / "s-fifo").mkdir(parents=True)
    os.mkfifo(sessions / "s-fifo" / LOG_FILE_NAME)
    (sessions / "s-dir" / LOG_FILE_NAME).mkdir(parents=True)
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(otlp_lines(*calls("s-fifo", 2), *calls("s-dir", 1))))
    result = cli(traces, "--sessions-dir", sessions, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "'s-fifo' cannot have a log of its own" in result.stderr
    assert "'s-dir' cannot have a log of its own" in result.stderr
    assert "not a regular file" in result.stderr
    fallback = sessions / "no-session" / LOG_FILE_NAME
    lines = [json.loads(line) for line in fallback.read_bytes().splitlines()]
    assert [line["session_id"] for line in lines] == ["s-fifo", "s-fifo", "s-dir"]
    assert (sessions / "s-fifo" / LOG_FILE_NAME).is_fifo()
    assert list((sessions / "s-dir" / LOG_FILE_NAME).iterdir()) == []
    again = cli(traces, "--sessions-dir", sessions, timeout=30)
    assert "0 new lines" in again.stdout


def test_a_fifo_as_the_fallback_log_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """When the fallback session's own log is a FIFO, lines that need it have nowhere to
    go: one line names it, exit status 2, no hang."""
    sessions = tmp_path / "sessions"
    (sessions / "no-session").mkdir(parents=True)
    os.mkfifo(sessions / "no-session" / LOG_FILE_NAME)
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(otlp_lines(with_attributes(a.GEN_AI_CONVERSATION_ID, ""))))
    result = cli(traces, "--sessions-dir", sessions, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "fallback session 'no-session'" in result.stderr
    assert "not a regular file" in result.stderr


def test_response_ids_count_once_per_session_and_empty_ids_never(tmp_path: Path) -> None:
    """The same `gen_ai.response.id` twice in one session is one call (two producers);
    in two sessions it is two calls; an empty id identifies nothing."""
    spans = [
        with_attributes(a.GEN_AI_CONVERSATION_ID, "s-1", a.GEN_AI_RESPONSE_ID, "msg-1"),
        with_attributes(a.GEN_AI_CONVERSATION_ID, "s-1", a.GEN_AI_RESPONSE_ID, "msg-1"),
        with_attributes(a.GEN_AI_CONVERSATION_ID, "s-2", a.GEN_AI_RESPONSE_ID, "msg-1"),
        *(
            with_attributes(a.GEN_AI_CONVERSATION_ID, "s-3", a.GEN_AI_RESPONSE_ID, "")
            for _ in "xyz"
        ),
    ]
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(otlp_lines(*spans)))
    result = cli(traces, "--sessions-dir", tmp_path / "sessions")
    assert result.returncode == 0, result.stderr
    sessions = [line["session_id"] for line in log_lines(tmp_path / "sessions")]
    assert sorted(sessions) == ["s-1", "s-2", "s-3", "s-3", "s-3"]
    assert "1 duplicate response id" in result.stdout


def test_a_log_replaced_by_a_link_while_lines_wait_goes_to_the_fallback(tmp_path: Path) -> None:
    """A session's log is read, then, while its new lines wait to be written, its
    directory is replaced by a symbolic link: the lines go to the fallback log (the
    link's target stays untouched) and a re-run adds nothing."""
    sessions = tmp_path / "sessions"
    traces = tmp_path / "traces.json"
    traces.write_bytes(b"".join(otlp_lines(*calls("s-1", 2), *calls("s-2", 1))))
    outside = tmp_path / "outside"
    outside.mkdir()
    sessions.mkdir()
    warnings: list[str] = []
    with Ingestor(sessions, report=warnings.append) as ingestor:
        for line in read_once([str(traces)]):
            ingestor.feed(line)
        (sessions / "s-1").symlink_to(outside)  # the run read s-1's (missing) log already
    assert ingestor.stats.written == 3
    assert list(outside.iterdir()) == []
    fallback = sessions / "no-session" / LOG_FILE_NAME
    assert [json.loads(line)["session_id"] for line in fallback.read_bytes().splitlines()] == [
        "s-1",
        "s-1",
    ]
    assert any("'s-1' cannot have a log of its own" in warning for warning in warnings)
    with Ingestor(sessions) as again:
        assert ingest_files([str(traces)], again).written == 0
