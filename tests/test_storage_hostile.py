"""The session log where the file system does not play along (issue 9, items 3-5): a FIFO,
directory or socket planted as a log, a sessions directory moved away, a process short of
file descriptors. Real files, real FIFOs and sockets, real rlimits in subprocesses."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_token_usage import TokenUsageSpanExporter
from otel_token_usage.export import SessionLogWriter
from otel_token_usage.record import LOG_FILE_NAME, SessionRefusedError

from .helpers import MakeSpan, chat_attributes, read_lines


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _unix_socket(path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))  # the name stays after close
    listener.close()


def _device(path: Path) -> None:
    try:  # a character device like /dev/null: writes "succeed" and vanish
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")


NOT_REGULAR: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "directory": _directory,
    "socket": _unix_socket,
    "device": _device,
}


@pytest.fixture(params=sorted(NOT_REGULAR))
def planted(request: pytest.FixtureRequest, sessions_dir: Path) -> Path:
    """`sessions/sess-1/token-usage.jsonl` taken by something that is not a regular file."""
    log: Path = sessions_dir / "sess-1" / LOG_FILE_NAME
    log.parent.mkdir(parents=True)
    NOT_REGULAR[request.param](log)
    return log


def run_bounded(job: Callable[[], SpanExportResult], planted: Path) -> SpanExportResult | None:
    """`job()` in a thread, given 10 s; None if it did not return. A job stuck writing
    into a planted FIFO is released by draining it, so the test ends either way."""
    results: list[SpanExportResult] = []
    thread = threading.Thread(target=lambda: results.append(job()), daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive() and planted.is_fifo():
        reader = os.open(planted, os.O_RDONLY | os.O_NONBLOCK)
        try:
            while thread.is_alive():
                try:
                    os.read(reader, 1 << 16)
                except BlockingIOError:
                    thread.join(0.05)
        finally:
            os.close(reader)
        return None
    return results[0] if results else None


def test_writer_refuses_a_log_that_is_not_a_regular_file(planted: Path) -> None:
    """A FIFO, directory or socket in a log's place is refused (never written, never
    waited on), like a symlink: its session's lines belong in the fallback session."""
    writer = SessionLogWriter(planted.parent.parent)
    with pytest.raises(SessionRefusedError, match=re.escape(LOG_FILE_NAME)):
        writer.append("sess-1", b"{}\n")
    writer.append("other", b"{}\n")  # other sessions are not affected
    writer.close()
    assert not planted.is_file()


def test_export_sends_lines_of_a_planted_log_to_the_fallback_without_blocking(
    planted: Path, make_span: MakeSpan, caplog: pytest.LogCaptureFixture
) -> None:
    """More than a pipe holds (64 KiB) of lines for a session whose log is a FIFO,
    directory or socket: export() neither blocks nor reports success into the pipe; the
    lines go to the fallback session, session id intact, with a throttled warning."""
    sessions_dir = planted.parent.parent
    spans = [make_span(chat_attributes(**{"gen_ai.usage.output_tokens": n})) for n in range(400)]
    exporter = TokenUsageSpanExporter(sessions_dir)
    with caplog.at_level(logging.WARNING, logger="otel_token_usage.export._exporter"):
        first = run_bounded(lambda: exporter.export(spans[:200]), planted)
        second = run_bounded(lambda: exporter.export(spans[200:]), planted)
    exporter.shutdown()
    assert (first, second) == (SpanExportResult.SUCCESS, SpanExportResult.SUCCESS)
    lines = [json.loads(line) for line in read_lines(sessions_dir / "no-session" / LOG_FILE_NAME)]
    assert [line["output_tokens"] for line in lines] == list(range(400))
    assert {line["session_id"] for line in lines} == {"sess-1"}
    assert len([r for r in caplog.records if "has no log of its own" in r.getMessage()]) == 1


@pytest.mark.parametrize("recreate", [True, False], ids=["mkdir", "no-mkdir"])
def test_sessions_directory_moved_away_is_left_behind(
    make_span: MakeSpan, tmp_path: Path, recreate: bool
) -> None:
    """`mv sessions archive; mkdir sessions`: later lines of existing and new sessions go
    to the directory the path names now (created again if nobody did), none to the
    archive."""
    sessions = tmp_path / "sessions"
    archive = tmp_path / "archive"

    def span(session: str, output: int) -> ReadableSpan:
        attrs = chat_attributes(**{"gen_ai.conversation.id": session})
        attrs["gen_ai.usage.output_tokens"] = output
        return make_span(attrs)

    exporter = TokenUsageSpanExporter(sessions)
    assert exporter.export([span("old", 1)]) is SpanExportResult.SUCCESS
    sessions.rename(archive)
    if recreate:
        sessions.mkdir()
    result = exporter.export([span("old", 2), span("new", 3)])
    exporter.shutdown()
    assert result is SpanExportResult.SUCCESS

    def outputs(path: Path) -> list[int]:
        return [json.loads(line)["output_tokens"] for line in read_lines(path / LOG_FILE_NAME)]

    assert outputs(archive / "old") == [1]
    assert sorted(p.name for p in archive.iterdir()) == ["old"]
    assert outputs(sessions / "old") == [2]
    assert outputs(sessions / "new") == [3]


DESCRIPTOR_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_token_usage import TokenUsageSpanExporter

    root, sessions, hog = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "hog"
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for n in range(sessions):
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "s%d" % n,
                 "gen_ai.usage.input_tokens": n, "gen_ai.usage.output_tokens": 1}
        with tracer.start_as_current_span("chat m", attributes=attrs):
            pass
    spans = memory.get_finished_spans()
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    held = []
    if hog:  # the application holds all but 4 descriptors
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        for fd in held[-4:]:
            os.close(fd)
        del held[-4:]
    before = len(os.listdir("/proc/self/fd"))
    exporter = TokenUsageSpanExporter(root, max_open_files=128)
    results = [exporter.export(spans[i:i + 512]).name for i in range(0, len(spans), 512)]
    during = len(os.listdir("/proc/self/fd")) - before
    exporter.shutdown()
    print(json.dumps({"results": sorted(set(results)), "during": during}))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("hog", [False, True], ids=["limit-64", "app-holds-all-but-4"])
def test_descriptor_limit_below_max_open_files_loses_no_line(tmp_path: Path, hog: bool) -> None:
    """RLIMIT_NOFILE 64 (below max_open_files=128) and 5,000 sessions: every line lands,
    and at most a quarter of the limit is kept open; with the application holding all
    but four descriptors, idle logs are closed on EMFILE and the open retried."""
    result = subprocess.run(
        [sys.executable, "-c", DESCRIPTOR_CHILD, str(tmp_path), "5000", "hog" if hog else ""],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["results"] == ["SUCCESS"]
    assert report["during"] <= 64 // 4 + 1  # logs kept open, plus the sessions directory
    logs = sorted(tmp_path.glob(f"*/{LOG_FILE_NAME}"))
    assert len(logs) == 5000
    inputs = sorted(json.loads(log.read_text())["input_tokens"] for log in logs)
    assert inputs == list(range(5000))  # one line each, none doubled
    assert all(len(read_lines(log)) == 1 for log in logs)


@pytest.fixture
def no_descriptor_leak() -> Iterator[None]:
    before = set(os.listdir("/proc/self/fd"))
    yield
    assert set(os.listdir("/proc/self/fd")) <= before


def test_refused_logs_leave_no_descriptor_open(planted: Path, no_descriptor_leak: None) -> None:
    """Refusing a planted log closes what it opened."""
    writer = SessionLogWriter(planted.parent.parent)
    for _ in range(3):
        with pytest.raises(SessionRefusedError):
            writer.append("sess-1", b"{}\n")
    writer.close()
