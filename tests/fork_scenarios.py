"""Forks taken at the worst moments, each in a process of its own (a hang must not take
the test run with it): `python -m tests.fork_scenarios SCENARIO DIR` prints a JSON report.

The pipeline is the real one: a `TracerProvider` (shut down at exit, as the SDK does)
with a `BatchSpanProcessor` around `TokenUsageSpanExporter`. The child makes a call,
flushes (its first export) and exits through the interpreter's exit path, which shuts the
provider down (the export path again).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from otel_token_usage import TokenUsageSpanExporter
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.record import LOG_FILE_NAME

from .forking import hold_log_lock, wait_bounded, wait_for_lock_waiter


def call(tracer: Tracer, session: str) -> None:
    """One finished LLM-call span in `session`."""
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.conversation.id": session,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 2,
    }
    with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes=attributes):
        pass


def pipeline(sessions: Path) -> tuple[TracerProvider, Tracer]:
    provider = TracerProvider()  # shutdown_on_exit: the child's exit runs the export path
    provider.add_span_processor(BatchSpanProcessor(TokenUsageSpanExporter(sessions)))
    return provider, provider.get_tracer("fork")


def child(tracer: Tracer, provider: TracerProvider) -> NoReturn:
    """The forked child's life: one call, its first export, a normal interpreter exit."""
    try:
        call(tracer, "child")
        flushed = provider.force_flush(5_000)
    except BaseException:  # noqa: BLE001 - anything unexpected is a distinct exit code
        os._exit(3)
    sys.exit(0 if flushed else 1)


def lines(sessions: Path) -> dict[str, int]:
    """Session -> number of lines in its log."""
    return {
        log.parent.name: len(log.read_bytes().splitlines())
        for log in sorted(sessions.glob(f"*/{LOG_FILE_NAME}"))
    }


def mid_export(root: Path) -> dict[str, Any]:
    """Fork while another thread is inside `export()`, holding the exporter's and the
    writer's locks (it waits for the flock of a log another process holds)."""
    sessions = root / "sessions"
    provider, tracer = pipeline(sessions)
    holder = hold_log_lock(sessions, "blocked")
    call(tracer, "blocked")
    threading.Thread(target=provider.force_flush, daemon=True).start()
    wait_for_lock_waiter(sessions, "blocked", os.getpid())
    pid = os.fork()
    if pid == 0:
        child(tracer, provider)
    status = wait_bounded(pid)
    os.close(holder)  # the other writer is done: the parent's export goes on
    provider.shutdown()
    return {"child": status, "lines": lines(sessions)}


def retry_buffer(root: Path) -> dict[str, Any]:
    """Fork while a line waits in the retry buffer (the disk refused it, then came
    back): the parent writes it, the child must not."""
    sessions = root / "sessions"
    sessions.write_text("a file where the sessions directory belongs")
    provider, tracer = pipeline(sessions)
    call(tracer, "pending")
    provider.force_flush()  # the export fails; the line waits for a retry
    sessions.unlink()
    pid = os.fork()
    if pid == 0:
        child(tracer, provider)
    status = wait_bounded(pid)
    provider.shutdown()  # the parent's exporter flushes its retry buffer
    return {"child": status, "lines": lines(sessions)}


def throttle_held(root: Path) -> dict[str, Any]:
    """Fork while another thread is inside a throttled logger (its lock held): the
    child's first warning must not wait for a thread it does not have."""
    throttled = ThrottledLogger(logging.getLogger("fork"))
    held, release = threading.Event(), threading.Event()
    lock = throttled._throttle._lock  # what a thread inside admit() holds

    def hold() -> None:
        with lock:
            held.set()
            release.wait()

    threading.Thread(target=hold, daemon=True).start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        throttled.warning("key", "a warning in the child")
        os._exit(0)
    status = wait_bounded(pid)
    release.set()
    return {"child": status}


SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "mid-export": mid_export,
    "retry-buffer": retry_buffer,
    "throttle-held": throttle_held,
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]](Path(sys.argv[2]))))
