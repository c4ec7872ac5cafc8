"""TokenUsageSpanExporter behind the real SDK: lines written, failures contained."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_token_usage import TokenUsageSpanExporter, extract_record
from otel_token_usage.export import ExporterSettings
from otel_token_usage.record import LOG_FILE_NAME

from .helpers import MakeSpan, chat_attributes, read_lines


def test_batch_pipeline_writes_one_line_per_llm_call(sessions_dir: Path) -> None:
    """Spans through a real BatchSpanProcessor land as lines in their sessions' logs."""
    exporter = TokenUsageSpanExporter(sessions_dir)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for session in ("a", "b", "a"):
        attrs = chat_attributes(**{"gen_ai.conversation.id": session})
        with tracer.start_as_current_span("chat claude-opus-4-8", kind=SpanKind.CLIENT) as span:
            span.set_attributes(attrs)
    with tracer.start_as_current_span("invoke_agent a") as span:
        span.set_attributes(chat_attributes(**{"gen_ai.operation.name": "invoke_agent"}))
    provider.shutdown()
    lines_a = read_lines(sessions_dir / "a" / LOG_FILE_NAME)
    lines_b = read_lines(sessions_dir / "b" / LOG_FILE_NAME)
    assert (len(lines_a), len(lines_b)) == (2, 1)
    record = json.loads(lines_b[0])
    assert record["session_id"] == "b"
    assert record["input_tokens"] == 800
    assert list(record)[:2] == ["ts", "session_id"]


def test_line_equals_the_record_of_the_span(
    exporter: TokenUsageSpanExporter, make_span: MakeSpan, sessions_dir: Path
) -> None:
    """The written line is exactly extract_record(span).to_json_line()."""
    span = make_span(chat_attributes())
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    record = extract_record(span)
    assert record is not None
    assert read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME) == [record.to_json_line()]


def test_seed_line_format(make_span: MakeSpan, sessions_dir: Path) -> None:
    """line_format="seed" writes exactly the Rust engine's twenty fields."""
    exporter = TokenUsageSpanExporter(sessions_dir, line_format="seed")
    span = make_span(chat_attributes())
    exporter.export([span])
    exporter.shutdown()
    record = extract_record(span)
    assert record is not None
    assert read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME) == [record.to_json_line(seed=True)]


def test_one_call_seen_by_two_producers_is_one_line(
    exporter: TokenUsageSpanExporter, make_span: MakeSpan, sessions_dir: Path
) -> None:
    """Two spans with the same gen_ai.response.id (native + instrumentor) give one line."""
    native = make_span(chat_attributes(**{"gen_ai.response.id": "msg_1"}), name="a.create")
    ours = make_span(chat_attributes(**{"gen_ai.response.id": "msg_1"}), name="chat m")
    other = make_span(chat_attributes(**{"gen_ai.response.id": "msg_2"}))
    exporter.export([native])
    exporter.export([ours, other])
    assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 2


def test_spans_without_session_go_to_the_fallback_session(
    make_span: MakeSpan, sessions_dir: Path
) -> None:
    """No session id: the line goes to the configured fallback session."""
    exporter = TokenUsageSpanExporter(sessions_dir, fallback_session="orphans")
    attrs = chat_attributes()
    del attrs["gen_ai.conversation.id"]
    exporter.export([make_span(attrs)])
    exporter.shutdown()
    [line] = read_lines(sessions_dir / "orphans" / LOG_FILE_NAME)
    assert json.loads(line)["session_id"] == "orphans"


@pytest.mark.parametrize("session_id", ["x" * 300, "symlinked"])
def test_refused_session_lines_go_to_fallback_with_their_id(
    make_span: MakeSpan, sessions_dir: Path, tmp_path: Path, session_id: str
) -> None:
    """A session that cannot have its own directory is not lost: fallback log, id intact."""
    outside = tmp_path / "outside"
    outside.mkdir()
    sessions_dir.mkdir()
    (sessions_dir / "symlinked").symlink_to(outside)
    exporter = TokenUsageSpanExporter(sessions_dir)
    result = exporter.export([make_span(chat_attributes(**{"gen_ai.conversation.id": session_id}))])
    exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    [line] = read_lines(sessions_dir / "no-session" / LOG_FILE_NAME)
    assert json.loads(line)["session_id"] == session_id
    assert list(outside.iterdir()) == []


def test_io_failure_returns_failure_logs_once_and_recovers(
    make_span: MakeSpan, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the disk refuses, export returns FAILURE with one log line and keeps the
    lines; once the cause is gone the next export writes them, in order, then its own."""
    blocker = tmp_path / "sessions"
    blocker.write_text("not a directory")
    exporter = TokenUsageSpanExporter(blocker)
    spans = [make_span(chat_attributes(**{"gen_ai.usage.output_tokens": n})) for n in range(4)]
    with caplog.at_level(logging.ERROR, logger="otel_token_usage.export._exporter"):
        assert exporter.export(spans[:1]) is SpanExportResult.FAILURE
        assert exporter.export(spans[1:2]) is SpanExportResult.FAILURE
        assert exporter.export(spans[2:3]) is SpanExportResult.FAILURE
    assert len(caplog.records) == 1
    assert "kept for retry" in caplog.records[0].getMessage()
    blocker.unlink()
    assert exporter.export(spans[3:]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    outputs = [
        json.loads(line)["output_tokens"] for line in read_lines(blocker / "sess-1" / LOG_FILE_NAME)
    ]
    assert outputs == [0, 1, 2, 3]


def test_retry_buffer_is_bounded(make_span: MakeSpan, tmp_path: Path) -> None:
    """Past max_pending_lines the oldest unwritten lines are dropped, newest kept."""
    blocker = tmp_path / "sessions"
    blocker.write_text("")
    exporter = TokenUsageSpanExporter(blocker, max_pending_lines=2)
    for n in range(5):
        exporter.export([make_span(chat_attributes(**{"gen_ai.usage.output_tokens": n}))])
    blocker.unlink()
    assert exporter.force_flush()
    exporter.shutdown()
    outputs = [
        json.loads(line)["output_tokens"] for line in read_lines(blocker / "sess-1" / LOG_FILE_NAME)
    ]
    assert outputs == [3, 4]


def test_full_retry_buffer_drops_the_oldest_lines_of_any_session(
    make_span: MakeSpan, tmp_path: Path
) -> None:
    """Past max_pending_lines the oldest lines go, whichever session they belong to; the
    survivors are written, each session's in the order they arrived (issue 9, item 8)."""
    blocker = tmp_path / "sessions"
    blocker.write_text("")
    exporter = TokenUsageSpanExporter(blocker, max_pending_lines=3)

    def span(session: str, output: int) -> ReadableSpan:
        attrs = chat_attributes(**{"gen_ai.conversation.id": session})
        attrs["gen_ai.usage.output_tokens"] = output
        return make_span(attrs)

    exporter.export([span("a", 0), span("b", 1), span("a", 2), span("b", 3)])  # drops a0
    exporter.export([span("b", 4), span("a", 5)])  # drops b1 and a2, the oldest left
    blocker.unlink()
    assert exporter.force_flush()
    exporter.shutdown()

    def outputs(session: str) -> list[int]:
        return [
            json.loads(x)["output_tokens"] for x in read_lines(blocker / session / LOG_FILE_NAME)
        ]

    assert (outputs("a"), outputs("b")) == ([5], [3, 4])


def test_export_never_raises_on_odd_spans(
    exporter: TokenUsageSpanExporter, make_span: MakeSpan, sessions_dir: Path
) -> None:
    """A span object that cannot be read is skipped; the rest of the batch is written."""

    class Broken(ReadableSpan):
        @property
        def attributes(self) -> None:
            raise RuntimeError("boom")

    good = make_span(chat_attributes())
    result = exporter.export([Broken(name="x"), good])
    assert result is SpanExportResult.SUCCESS
    assert len(read_lines(sessions_dir / "sess-1" / LOG_FILE_NAME)) == 1


def test_shutdown_is_idempotent_and_final(make_span: MakeSpan, sessions_dir: Path) -> None:
    """shutdown() twice is harmless; export afterwards returns FAILURE and writes nothing."""
    exporter = TokenUsageSpanExporter(sessions_dir)
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([make_span(chat_attributes())]) is SpanExportResult.FAILURE
    assert not (sessions_dir / "sess-1").exists()


def test_force_flush_fsyncs_and_reports_success(
    exporter: TokenUsageSpanExporter, make_span: MakeSpan
) -> None:
    """force_flush() returns True when everything is on disk."""
    exporter.export([make_span(chat_attributes())])
    assert exporter.force_flush() is True


def test_settings_come_from_arguments_then_environment_then_defaults(tmp_path: Path) -> None:
    """Argument > OTEL_TOKEN_USAGE_* > default; a bad variable warns and falls back."""
    env = {
        "OTEL_TOKEN_USAGE_SESSIONS_DIR": str(tmp_path / "env"),
        "OTEL_TOKEN_USAGE_LINE_FORMAT": "seed",
        "OTEL_TOKEN_USAGE_MAX_OPEN_FILES": "lots",
        "OTEL_TOKEN_USAGE_DIR_MODE": "0750",
    }
    settings = ExporterSettings.resolve(env, sessions_dir=tmp_path / "arg")
    assert settings.sessions_dir == tmp_path / "arg"
    assert settings.line_format == "seed"
    assert settings.max_open_files == 128
    assert settings.dir_mode == 0o750
    assert ExporterSettings.resolve({}).sessions_dir == Path("sessions")


@pytest.mark.parametrize(
    "arguments",
    [
        {"line_format": "xml"},
        {"max_open_files": 0},
        {"max_open_files": 1.5},
        {"dir_mode": "rwx"},
        {"fallback_session": ""},
        {"sessions_dir": ""},
        {"no_such_setting": 1},
    ],
)
def test_bad_arguments_raise(arguments: dict[str, object]) -> None:
    """A bad keyword argument is a programming error: ValueError names it."""
    with pytest.raises(ValueError):
        ExporterSettings.resolve({}, **arguments)


ZERO_CODE_APP = textwrap.dedent(
    """
    from opentelemetry import trace
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("chat gpt-5") as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-5",
            "gen_ai.conversation.id": "zero-code",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 7,
        })
    """
)


@pytest.mark.slow
def test_zero_code_entry_point(tmp_path: Path) -> None:
    """OTEL_TRACES_EXPORTER=token_usage opentelemetry-instrument python app.py writes the log."""
    app = tmp_path / "app.py"
    app.write_text(ZERO_CODE_APP)
    env = os.environ | {
        "OTEL_TRACES_EXPORTER": "token_usage",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_TOKEN_USAGE_SESSIONS_DIR": str(tmp_path / "sessions"),
    }
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    subprocess.run([str(instrument), sys.executable, str(app)], env=env, check=True, timeout=60)
    [line] = read_lines(tmp_path / "sessions" / "zero-code" / LOG_FILE_NAME)
    record = json.loads(line)
    assert (record["provider"], record["input_tokens"], record["output_tokens"]) == (
        "openai",
        120,
        7,
    )
