"""What SIGKILL costs: a process killed while it exports loses no line it reported
written, leaves no merged or doubled line, and at most one partial last line per log,
which the next writer terminates and readers skip (the README's guarantees)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_token_usage.export import SessionLogWriter
from otel_token_usage.record import LOG_FILE_NAME

SESSIONS = 7
BATCH = 64

KILLED_CHILD = textwrap.dedent(
    f"""
    import sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_token_usage import TokenUsageSpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    exporter = TokenUsageSpanExporter(sys.argv[1])
    for batch in range(10**6):
        memory.clear()
        for n in range(batch * {BATCH}, (batch + 1) * {BATCH}):
            attrs = {{"gen_ai.operation.name": "chat",
                     "gen_ai.conversation.id": "s%d" % (n % {SESSIONS}),
                     "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": n,
                     "gen_ai.request.model": "m" * (n % 300)}}
            with tracer.start_as_current_span("chat m", attributes=attrs):
                pass
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
        print(batch, flush=True)  # every call of this batch is written
    """
)


@pytest.mark.slow
def test_sigkill_mid_export_costs_no_reported_line_and_tears_at_most_the_last(
    tmp_path: Path,
) -> None:
    """SIGKILL while a process exports batch after batch: every call of every batch it
    reported written is a whole line, none twice; a log may end in one partial line,
    which the next writer terminates before its own line."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged = -1
    while acknowledged < 30:
        acknowledged = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()

    written: list[int] = []
    for session in range(SESSIONS):
        data = (tmp_path / f"s{session}" / LOG_FILE_NAME).read_bytes()
        whole, _, partial = data.rpartition(b"\n")
        assert b"\n" not in partial  # at most one partial line, and only at the end
        written += [json.loads(line)["output_tokens"] for line in whole.split(b"\n")]
    assert len(written) == len(set(written))  # no line twice
    assert set(range((acknowledged + 1) * BATCH)) <= set(written)  # nothing reported lost

    writer = SessionLogWriter(tmp_path)
    writer.append("s0", b'{"after":"kill"}\n')
    writer.close()
    last = (tmp_path / "s0" / LOG_FILE_NAME).read_bytes().split(b"\n")[-2]
    assert json.loads(last) == {"after": "kill"}
