"""The WSGI app of the prefork test (`tests/test_fork.py`), served by a real gunicorn with
`--preload`: this module is imported once, in the master, which sets up the pipeline
(`configure()`, `AnthropicInstrumentor`) and makes a warm-up call before forking its
workers. Each request makes LLM calls through the real `anthropic` SDK against the test's
`FakeProvider`, inside `session()`.

Set by the test: TOKEN_USAGE_TEST_SESSIONS (sessions directory), TOKEN_USAGE_TEST_BASE_URL
(the fake provider), TOKEN_USAGE_TEST_SCENARIO:
- `retry-buffer`: the sessions path is a file while the warm-up call is exported, so its
  line waits in the master's retry buffer when the workers are forked; the path is
  freed just before.
- `mid-export`: the warm-up call's session log is locked by the test, so the master's
  flushing thread is inside `export()` (holding the exporter's and writer's locks) when
  the workers are forked; the test releases the lock after the requests.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anthropic

from otel_token_usage import configure, session
from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor

from .forking import wait_for_lock_waiter

SESSIONS = Path(os.environ["TOKEN_USAGE_TEST_SESSIONS"])
BASE_URL = os.environ["TOKEN_USAGE_TEST_BASE_URL"]
SCENARIO = os.environ["TOKEN_USAGE_TEST_SCENARIO"]
EXITED = SESSIONS.parent / "exited"
MODEL = "claude-fake-1"


def _exited_cleanly() -> None:
    # Registered before configure(): atexit runs it after the pipeline's shutdown, so the
    # marker exists only for a process whose last lines were written and that did exit.
    EXITED.mkdir(exist_ok=True)
    (EXITED / str(os.getpid())).touch()


atexit.register(_exited_cleanly)
pipeline = configure(SESSIONS, otlp_traces=False, otlp_metrics=False, metrics=False)
AnthropicInstrumentor().instrument(tracer_provider=pipeline.tracer_provider)

_clients: dict[int, anthropic.Anthropic] = {}


def _client() -> anthropic.Anthropic:
    # One client per process: a connection pool must not be shared across a fork.
    pid = os.getpid()
    if pid not in _clients:
        _clients[pid] = anthropic.Anthropic(
            base_url=BASE_URL, api_key="test", max_retries=0, open_telemetry=False
        )
    return _clients[pid]


def ask(session_id: str, text: str) -> str:
    """One LLM call in `session_id`; its response id."""
    with session(session_id):
        message = _client().messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": text}]
        )
    return message.id


def _warm_up() -> None:
    if SCENARIO == "retry-buffer":
        ask("preload", "warm up")
        pipeline.span_processor.force_flush()  # refused: the sessions path is a file
        SESSIONS.unlink()
    elif SCENARIO == "mid-export":
        ask("blocked", "warm up")
        threading.Thread(target=pipeline.span_processor.force_flush, daemon=True).start()
        wait_for_lock_waiter(SESSIONS, "blocked", os.getpid())


_warm_up()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """`GET /?session=S&calls=N`: N calls in session S; answers the worker's pid and the
    calls' response ids."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    session_id = query["session"][0]
    ids = [ask(session_id, f"question {n} of {session_id}") for n in range(int(query["calls"][0]))]
    body = json.dumps({"pid": os.getpid(), "ids": ids}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
