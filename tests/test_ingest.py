"""`token-usage ingest`: session logs from OTLP JSON trace files, equal byte for byte to
what `TokenUsageSpanExporter` writes for the same spans; idempotent; tolerant of bad
lines; following growing and rotated files.

Real parts only: spans from the real SDK (and the real Anthropic client against the
local fake provider) written by the real `opentelemetry-exporter-otlp-json-file`
exporter, hand-written collector-style files, real session logs in tmp_path, and the
command run as a subprocess.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import SessionSpanProcessor, TokenUsageSpanExporter, session
from otel_token_usage import semconv as a
from otel_token_usage.ingest import Ingestor, follow_files, ingest_files
from otel_token_usage.ingest._tail import InputLine, follow
from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor
from otel_token_usage.record import LOG_FILE_NAME
from otel_token_usage.testing import FakeClock, FakeProvider

from .helpers import budget_snapshot, chat_attributes

LONG_SESSION = "x" * 300  # no directory name can hold it: the fallback session's log
HOSTILE_SESSIONS = ("../escape", "/etc", "a/b\\c", ".", "..", ".hidden", "nul\x00id", "ünï")


# helpers


def logs(root: Path) -> dict[str, bytes]:
    """Every session log below `root`, by path relative to it."""
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob(LOG_FILE_NAME))
    }


def log_lines(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for data in logs(root).values() for line in data.splitlines()]


def otlp_lines(*calls: Mapping[str, AttributeValue]) -> list[bytes]:
    """One OTLP JSON line per span, written by the real JSON file exporter."""
    stream = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    tracer = provider.get_tracer("tests.ingest")
    for attrs in calls:
        with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes=attrs):
            pass
    provider.shutdown()
    return [line.encode() + b"\n" for line in stream.getvalue().splitlines()]


def calls(session_id: str, count: int, first: int = 0) -> list[dict[str, AttributeValue]]:
    return [
        with_attributes(
            a.GEN_AI_CONVERSATION_ID,
            session_id,
            a.GEN_AI_RESPONSE_ID,
            f"{session_id}-r{n}",
            a.GEN_AI_USAGE_OUTPUT_TOKENS,
            100 + n,
        )
        for n in range(first, first + count)
    ]


def with_attributes(*pairs: AttributeValue) -> dict[str, AttributeValue]:
    """`chat_attributes()` with the given name, value, name, value... overridden."""
    attrs = chat_attributes()
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        assert isinstance(name, str)
        attrs[name] = value
    return attrs


def log_count(sessions: Path) -> int:
    return len(log_lines(sessions)) if sessions.exists() else 0


def ingest(paths: Sequence[Path], sessions_dir: Path, **options: Any) -> Any:
    with Ingestor(sessions_dir, **options) as ingestor:
        return ingest_files([str(p) for p in paths], ingestor)


def cli(
    *args: str | Path, stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_TOKEN_USAGE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "otel_token_usage", "ingest", *map(str, args)],
        capture_output=True,
        input=stdin.decode() if stdin is not None else None,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def wait_for(check: Callable[[], bool]) -> None:
    """Poll until `check()` holds; the deadline only stops a hung test."""
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, "the follower never caught up"
        time.sleep(0.01)


@contextlib.contextmanager
def following(path: Path, sessions: Path, write_interval: float = 0.0) -> Iterator[Ingestor]:
    """An `Ingestor` following `path` in a thread (polling every 10 ms, writing what it
    read each time it catches up unless `write_interval` says otherwise) until the block
    ends; then it is stopped, joined and closed."""
    stop = threading.Event()
    ingestor = Ingestor(sessions)
    options = {"poll_interval": 0.01, "write_interval": write_interval}
    worker = threading.Thread(
        target=follow_files, args=([str(path)], ingestor, stop), kwargs=options
    )
    worker.start()
    try:
        yield ingestor
    finally:
        stop.set()
        worker.join()
        ingestor.close()


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("token-usage: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# byte-identical to the exporter


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, Path]:
    """One workload through a real pipeline that has both exporters side by side: ours
    (the expected logs) and the OpenTelemetry JSON file exporter (the traces file)."""
    traces = tmp_path / "traces.jsonl"
    expected = tmp_path / "expected"
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(TokenUsageSpanExporter(expected)))
    provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(traces)))

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeProvider(clock=FakeClock()) as fake:
            client = anthropic.Anthropic(
                base_url=fake.base_url, api_key="test", max_retries=0, open_telemetry=False
            )
            for session_id in ("agent-a", "agent-b"):
                history: list[anthropic.types.MessageParam] = []
                for turn in range(3):
                    history.append({"role": "user", "content": f"Step {turn}: go on. " * 40})
                    with session(session_id, budget=budget_snapshot(), message_count=turn + 1):
                        reply = client.messages.create(
                            model="claude-fake-1", max_tokens=64, messages=history
                        )
                    history.append({"role": "assistant", "content": reply.content})
    finally:
        instrumentor.uninstrument()

    one = provider.get_tracer("producer.one")
    two = provider.get_tracer("producer.two")
    shared = with_attributes(a.GEN_AI_RESPONSE_ID, "msg-shared")
    hand: list[tuple[Any, dict[str, AttributeValue]]] = [
        (one, shared),
        (two, shared),  # the same call seen by a second producer: one line
        (
            one,
            {
                a.OPENINFERENCE_SPAN_KIND: "LLM",
                a.OPENINFERENCE_PROMPT_TOKENS: 900,
                a.OPENINFERENCE_COMPLETION_TOKENS: 12,
                a.OPENINFERENCE_MODEL_NAME: "gpt-x",
                a.SESSION_ID: "oi-session",
            },
        ),
        (two, with_attributes(a.GEN_AI_CONVERSATION_ID, "")),  # fallback session
        (one, {a.GEN_AI_OPERATION_NAME: "invoke_agent", a.GEN_AI_USAGE_INPUT_TOKENS: 5}),
        (
            two,
            with_attributes(
                a.GEN_AI_USAGE_OUTPUT_TOKENS,
                120.0,
                a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
                "77",
                "gen_ai.response.finish_reasons",
                ("end_turn",),
            ),
        ),
        (one, with_attributes(a.GEN_AI_USAGE_OUTPUT_TOKENS, -3)),  # warned, recorded as 0
        (two, with_attributes(a.GEN_AI_CONVERSATION_ID, LONG_SESSION)),
        *((one, with_attributes(a.GEN_AI_CONVERSATION_ID, s)) for s in HOSTILE_SESSIONS),
    ]
    for tracer, attrs in hand:
        with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes=attrs):
            pass
    provider.shutdown()
    return traces, expected


def test_python_file_exporter_output_gives_the_exporters_logs(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    """Spans written by the real JSON file exporter, ingested, give the same session logs,
    file for file and byte for byte, as TokenUsageSpanExporter wrote for those spans:
    real Anthropic calls with a session and budget, two producers of one call, two
    instrumentation scopes, OpenInference names, fallback and hostile session ids."""
    traces, expected = recorded
    got = tmp_path / "got"
    stats = ingest([traces], got)
    want = logs(expected)
    assert len(want) >= 5
    assert logs(got) == want
    assert stats.written == sum(data.count(b"\n") for data in want.values())
    assert stats.duplicates == 1
    assert stats.skipped == 0
    lines = log_lines(got)
    assert all(len(line["span_id"]) == 16 and len(line["trace_id"]) == 32 for line in lines)


def test_hostile_session_ids_stay_inside_the_sessions_dir(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    """Session ids that try to leave the sessions dir get one encoded directory right
    below it; an id too long for a directory goes to the fallback log, id intact."""
    traces, _ = recorded
    got = tmp_path / "got"
    ingest([traces], got)
    for path in got.rglob("*"):
        assert path.resolve().is_relative_to(got.resolve())
        assert len(path.relative_to(got).parts) <= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expected", "got", "traces.jsonl"]
    by_session = {line["session_id"]: line for line in log_lines(got)}
    assert set(HOSTILE_SESSIONS) <= set(by_session)
    fallback = (got / "no-session" / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert LONG_SESSION in fallback


class _FixedIds(IdGenerator):
    """Hands out the given (trace id, span id) pairs in order."""

    def __init__(self, ids: list[tuple[int, int]]) -> None:
        self._ids = list(ids)

    def generate_trace_id(self) -> int:
        return self._ids[0][0]

    def generate_span_id(self) -> int:
        return self._ids.pop(0)[1]


COLLECTOR_FILE = """\
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rust-agent"}}]},"scopeSpans":[{"scope":{"name":"agent-rs","version":"0.9.1"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"","flags":1,"name":"chat claude-opus-4-8","kind":3,"startTimeUnixNano":"1781000000000000000","endTimeUnixNano":"1781000002345678901","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"anthropic"}},{"key":"gen_ai.request.model","value":{"stringValue":"claude-opus-4-8"}},{"key":"gen_ai.conversation.id","value":{"stringValue":"rust-1"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"14300"}},{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"12000"}},{"key":"gen_ai.usage.cache_write.input_tokens","value":{"intValue":1500}},{"key":"token_usage.cache_write.1h.input_tokens","value":{"intValue":"1500"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":"300"}},{"key":"token_usage.message_count","value":{"intValue":"7"}},{"key":"gen_ai.request.temperature","value":{"doubleValue":0.5}},{"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"end_turn"}]}}}],"status":{"code":1}}]}],"schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}]}
{"resourceMetrics":[{"resource":{"attributes":[]},"scopeMetrics":[]}]}
{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{"name":"agent-node"},"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"AAAAAAAAAAE=","name":"chat gpt-5","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":1781000003000000000,"endTimeUnixNano":1781000003500000000,"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},{"key":"gen_ai.response.model","value":{"stringValue":"gpt-5"}},{"key":"session.id","value":{"stringValue":"node-1"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"2000"}},{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"1024"}},{"key":"gen_ai.usage.output_tokens","value":{"doubleValue":50}},{"key":"gen_ai.usage.reasoning.output_tokens","value":{"intValue":"20"}},{"key":"opaque","value":{"kvlistValue":{"values":[]}}}]}]}]}]}
"""  # noqa: E501 - one OTLP request per line, as the collector writes them

COLLECTOR_SPANS: list[tuple[int, int, int, int, dict[str, AttributeValue]]] = [
    (
        0x5B8EFFF798038103D269B633813FC60C,
        0xEEE19B7EC3C1B174,
        1781000000000000000,
        1781000002345678901,
        {
            a.GEN_AI_OPERATION_NAME: "chat",
            a.GEN_AI_PROVIDER_NAME: "anthropic",
            a.GEN_AI_REQUEST_MODEL: "claude-opus-4-8",
            a.GEN_AI_CONVERSATION_ID: "rust-1",
            a.GEN_AI_USAGE_INPUT_TOKENS: 14300,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 12000,
            a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 1500,
            a.TOKEN_USAGE_CACHE_WRITE_1H: 1500,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
            a.TOKEN_USAGE_MESSAGE_COUNT: 7,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.response.finish_reasons": ("end_turn",),
        },
    ),
    (
        0x5B8EFFF798038103D269B633813FC60C,
        1,
        1781000003000000000,
        1781000003500000000,
        {
            a.GEN_AI_OPERATION_NAME: "chat",
            a.GEN_AI_PROVIDER_NAME: "openai",
            a.GEN_AI_RESPONSE_MODEL: "gpt-5",
            a.SESSION_ID: "node-1",
            a.GEN_AI_USAGE_INPUT_TOKENS: 2000,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1024,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: 50.0,
            a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 20,
        },
    ),
]


def test_collector_file_gives_the_exporters_lines(tmp_path: Path) -> None:
    """A collector-style file (int64 as strings or numbers, hex or base64 ids, a metrics
    line, enum names, an unused kvlist value) gives the lines the exporter writes for SDK
    spans with the same ids, times and attributes."""
    traces = tmp_path / "otel-traces.json"
    traces.write_text(COLLECTOR_FILE, encoding="utf-8")
    expected = tmp_path / "expected"
    ids = [(trace_id, span_id) for trace_id, span_id, *_ in COLLECTOR_SPANS]
    provider = TracerProvider(id_generator=_FixedIds(ids))
    provider.add_span_processor(SimpleSpanProcessor(TokenUsageSpanExporter(expected)))
    tracer = provider.get_tracer("sdk")
    for _, _, start, end, attrs in COLLECTOR_SPANS:
        tracer.start_span("chat", kind=SpanKind.CLIENT, attributes=attrs, start_time=start).end(
            end_time=end
        )
    provider.shutdown()

    got = tmp_path / "got"
    stats = ingest([traces], got)
    assert logs(got) == logs(expected)
    assert stats.written == 2
    assert stats.skipped == 0
    rust = log_lines(got)[1]
    assert rust["session_id"] == "rust-1"
    assert rust["ts"] == "2026-06-09T10:13:22.345Z"
    assert rust["duration_ms"] == 2345
    assert rust["span_id"] == "eee19b7ec3c1b174"
    assert rust["input_tokens"] == 800


# idempotence


def test_rerun_and_overlapping_files_add_nothing(tmp_path: Path) -> None:
    """Ingesting the same file again, or a file that overlaps it, in either order, adds
    only the calls the logs do not hold yet."""
    lines = otlp_lines(*calls("s-1", 4), *calls("s-2", 2))
    first = tmp_path / "traces-1.json"
    first.write_bytes(b"".join(lines[:4]))
    overlap = tmp_path / "traces-2.json"
    overlap.write_bytes(b"".join(lines[2:]))
    sessions = tmp_path / "sessions"

    assert ingest([first], sessions).written == 4
    once = logs(sessions)
    again = ingest([first], sessions)
    assert (again.written, again.present) == (0, 4)
    assert logs(sessions) == once

    more = ingest([overlap, first], sessions)
    assert (more.written, more.present) == (2, 4)
    assert len(log_lines(sessions)) == 6
    assert ingest([first, overlap, overlap], sessions).written == 0
    spans = [(line["trace_id"], line["span_id"]) for line in log_lines(sessions)]
    assert len(set(spans)) == 6


def test_same_span_twice_in_one_run_is_written_once(tmp_path: Path) -> None:
    """Within one run, a span repeated by overlapping files (same ids) and a call
    repeated by a second producer (same response id) are written once."""
    line = otlp_lines(*calls("s-1", 1))[0]
    twin = otlp_lines(*calls("s-1", 1))[0]  # another span, same response id
    traces = tmp_path / "t.json"
    traces.write_bytes(line + line + twin)
    stats = ingest([traces, traces], tmp_path / "sessions")
    assert stats.written == 1
    assert stats.present == 0  # the repeats are caught by their response id first
    assert stats.duplicates == 5

    anonymous = otlp_lines(chat_attributes())[0]  # no response id: known by its ids
    traces.write_bytes(anonymous + anonymous)
    stats = ingest([traces, traces], tmp_path / "other")
    assert (stats.written, stats.present) == (1, 3)


def test_many_sessions_in_one_run(tmp_path: Path) -> None:
    """More sessions than the run keeps indexes for: an index dropped from memory is
    read again from its log, so a call seen again late in the run is still known."""
    many = [c for n in range(300) for c in calls(f"s-{n}", 1)]
    lines = otlp_lines(*many)
    traces = tmp_path / "t.json"
    traces.write_bytes(b"".join(lines) + lines[0].replace(b'"gen_ai.response.id"', b'"x"'))
    sessions = tmp_path / "sessions"
    stats = ingest([traces], sessions)
    assert (stats.written, stats.present) == (300, 1)
    assert ingest([traces], sessions).written == 0
    assert len(log_lines(sessions)) == 300


def test_seed_logs_are_recognised_by_content_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log in seed format (no span_id) is matched by whole lines: ingesting the same
    spans in seed or extended format adds nothing, and one warning names the session.
    Lines the log got from elsewhere cannot be recognised."""
    traces = tmp_path / "t.json"
    traces.write_bytes(b"".join(otlp_lines(*calls("s-1", 3))))
    sessions = tmp_path / "sessions"
    assert ingest([traces], sessions, line_format="seed").written == 3
    seed_log = logs(sessions)
    assert all(b"span_id" not in data for data in seed_log.values())

    assert ingest([traces], sessions, line_format="seed").written == 0
    warnings: list[str] = []
    assert ingest([traces], sessions, report=warnings.append).written == 0
    assert logs(sessions) == seed_log
    assert len(warnings) == 1
    assert "'s-1'" in warnings[0]
    assert "no span_id" in warnings[0]

    # A line the Rust engine wrote for another moment of the same call: not the same line.
    log = sessions / "s-1" / LOG_FILE_NAME
    log.write_bytes(log.read_bytes().replace(b'"ts":"', b'"ts":"1', 1))
    assert ingest([traces], sessions, line_format="seed").written == 1


# bad input


def test_truncated_and_garbage_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    """A garbage line, a line of the wrong shape, a span with bad ids and a truncated
    last line are each reported as file:line on stderr; everything else is ingested and
    the exit status is 1."""
    good = otlp_lines(*calls("s-1", 3))
    bad_ids = good[1].replace(b'"spanId":"', b'"spanId":"zz', 1)
    traces = tmp_path / "traces.json"
    traces.write_bytes(
        good[0] + b"this is not json\n" + b"[1, 2]\n" + bad_ids + good[2] + good[1][:50]
    )
    sessions = tmp_path / "sessions"
    result = cli(traces, "--sessions-dir", sessions)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in errors] == [
        f"{traces}:2",
        f"{traces}:3",
        f"{traces}:4",
        f"{traces}:6",
    ]
    assert "not OTLP JSON" in errors[0]
    assert "spanId" in errors[2]
    assert "truncated" in errors[3]
    assert "2 new lines" in result.stdout
    assert [line["output_tokens"] for line in log_lines(sessions)] == [100, 102]


def test_errors_a_person_can_meet_are_one_line(tmp_path: Path) -> None:
    """A missing file, a directory, a zstd or binary (proto) file, a bad setting: one
    line on stderr, exit status 2, no traceback, and nothing written for a missing file."""
    sessions = tmp_path / "sessions"
    real = tmp_path / "real.json"
    real.write_bytes(otlp_lines(*calls("s-1", 1))[0])
    one_line_error(cli(real, tmp_path / "missing.json", "--sessions-dir", sessions), "missing")
    assert not sessions.exists()
    one_line_error(cli(tmp_path, "--sessions-dir", sessions), "directory")
    zstd = tmp_path / "t.json.zst"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    one_line_error(cli(zstd, "--sessions-dir", sessions), "zstd -dc")
    proto = tmp_path / "t.proto"
    proto.write_bytes(b"\x00\x00\x01\x10\x0a\x0b")
    one_line_error(cli(proto, "--sessions-dir", sessions), "format: json")
    one_line_error(cli(real, "--fallback-session", "x" * 300), "fallback_session")
    for option in (("--follow-timeout", "soon"), ("--shard", "2/2"), ("--max-held-ids", "0")):
        bad = cli(real, *option)
        assert bad.returncode == 2
        assert "Traceback" not in bad.stderr
        assert option[0] in bad.stderr


def test_gzip_and_stdin_read_like_plain_files(tmp_path: Path) -> None:
    """A gzip file (as a rotated, compressed file) and stdin give the same logs as the
    plain file."""
    data = b"".join(otlp_lines(*calls("s-1", 3)))
    plain = tmp_path / "t.json"
    plain.write_bytes(data)
    packed = tmp_path / "t-2026.json.gz"
    packed.write_bytes(gzip.compress(data))
    ingest([plain], tmp_path / "plain")
    ingest([packed], tmp_path / "packed")
    assert logs(tmp_path / "packed") == logs(tmp_path / "plain")
    result = cli("-", "--sessions-dir", tmp_path / "stdin", stdin=data)
    assert result.returncode == 0, result.stderr
    assert logs(tmp_path / "stdin") == logs(tmp_path / "plain")

    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(data)[:-20])
    stats = ingest([cut], tmp_path / "cut")
    assert stats.bad_lines == 1


def test_symlinked_session_dir_is_not_followed(tmp_path: Path) -> None:
    """A session directory that is a symbolic link is neither read nor written through:
    its calls go to the fallback log, and the link's target is untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "s-1").symlink_to(outside)
    traces = tmp_path / "t.json"
    traces.write_bytes(b"".join(otlp_lines(*calls("s-1", 2))))
    warnings: list[str] = []
    assert ingest([traces], sessions, report=warnings.append).written == 2
    assert list(outside.iterdir()) == []
    assert [line["session_id"] for line in log_lines(sessions)] == ["s-1", "s-1"]
    assert (sessions / "no-session" / LOG_FILE_NAME).exists()
    assert any("'s-1'" in w for w in warnings)


# following


def caught_up(lines: Iterator[InputLine | None]) -> list[tuple[int, bytes, bool]]:
    """The lines `follow` gives until it has caught up with every file."""
    out: list[tuple[int, bytes, bool]] = []
    for line in lines:
        if line is None:
            return out
        out.append((line.number, line.data, line.complete))
    return out


def test_follow_holds_partial_lines_and_survives_rotation(tmp_path: Path) -> None:
    """Step by step: a line without its newline waits for it; a file renamed away is read
    to its end, then its successor from the start; a file cut shorter is read again from
    the start; at the stop a last incomplete line is given out as such."""
    path = tmp_path / "traces.json"
    stop = threading.Event()
    lines = follow([str(path)], stop, poll_interval=0)
    assert caught_up(lines) == []  # not there yet: waited for
    path.write_bytes(b'{"a":1}\n{"b":')
    assert caught_up(lines) == [(1, b'{"a":1}\n', True)]
    with path.open("ab") as file:
        file.write(b"2}\n")
    assert caught_up(lines) == [(2, b'{"b":2}\n', True)]

    with path.open("ab") as old:
        old.write(b'{"c":3}\n')
        old.flush()
        path.rename(tmp_path / "traces-1.json")
        assert caught_up(lines) == [(3, b'{"c":3}\n', True)]
        old.write(b'{"d":4}\n')  # the writer still holds the renamed file
        old.flush()
        assert caught_up(lines) == [(4, b'{"d":4}\n', True)]
    path.write_bytes(b'{"e":5}\n')
    assert caught_up(lines) == [(1, b'{"e":5}\n', True)]

    path.write_bytes(b"")  # copy-and-truncate rotation
    assert caught_up(lines) == []
    path.write_bytes(b'{"f":6}\n{"g":')
    assert caught_up(lines) == [(1, b'{"f":6}\n', True)]
    stop.set()
    assert caught_up(lines) == [(2, b'{"g":', False)]
    assert list(lines) == []


def test_follow_ingests_appends_and_rotated_files(tmp_path: Path) -> None:
    """`follow_files` in a thread: lines appended to the file and lines of its rotated
    successor reach the logs, each once; setting the stop event ends it cleanly."""
    lines = otlp_lines(*calls("s-1", 5))
    path = tmp_path / "traces.json"
    path.write_bytes(lines[0])
    sessions = tmp_path / "sessions"
    with following(path, sessions) as ingestor:
        wait_for(lambda: log_count(sessions) == 1)
        with path.open("ab") as file:
            file.write(lines[1] + lines[2])
        wait_for(lambda: log_count(sessions) == 3)
        path.rename(tmp_path / "traces-2026-06-15T10-00-00.000.json")
        path.write_bytes(lines[2] + lines[3] + lines[4])  # overlaps what was read
        wait_for(lambda: log_count(sessions) == 5)
    assert [line["output_tokens"] for line in log_lines(sessions)] == [100, 101, 102, 103, 104]
    assert ingestor.stats.duplicates == 1  # the overlap, known by its response id


def test_follow_command_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    """`token-usage ingest --follow` as a subprocess: it picks up appended lines and a
    rotated file, and Ctrl-C (SIGINT) ends it with status 0 and its summary."""
    lines = otlp_lines(*calls("s-1", 3))
    path = tmp_path / "traces.json"
    path.write_bytes(lines[0])
    sessions = tmp_path / "sessions"
    command = [sys.executable, "-m", "otel_token_usage", "ingest", str(path)]
    options = ["--follow", "--poll-interval", "0.02", "--sessions-dir", str(sessions)]
    process = subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: log_count(sessions) == 1)
        with path.open("ab") as file:
            file.write(lines[1])
        wait_for(lambda: log_count(sessions) == 2)
        path.rename(tmp_path / "traces-1.json")
        path.write_bytes(lines[2])
        wait_for(lambda: log_count(sessions) == 3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "3 new lines in 1 session" in out


def test_follow_timeout_ends_a_bounded_run(tmp_path: Path) -> None:
    """`--follow-timeout` follows, then stops by itself once nothing new comes; a file
    that does not exist yet is waited for, with one line saying so."""
    path = tmp_path / "traces.json"
    path.write_bytes(b"".join(otlp_lines(*calls("s-1", 2))))
    later = tmp_path / "later.json"
    sessions = tmp_path / "sessions"
    result = cli(
        path,
        later,
        "--follow-timeout",
        "0.3",
        "--poll-interval",
        "0.05",
        "--sessions-dir",
        sessions,
    )
    assert result.returncode == 0, result.stderr
    assert "later.json: does not exist yet" in result.stderr
    assert "2 new lines" in result.stdout
    assert len(log_lines(sessions)) == 2
