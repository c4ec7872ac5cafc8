"""Forked processes (issue 9, item 1): a child starts with fresh locks and no inherited
pending lines, whatever the parent was doing at the fork; a real prefork server with
`--preload` writes every call exactly once and none of its workers hangs.

Each scenario runs in a process of its own (`tests/fork_scenarios.py`, a real gunicorn)
with bounded waits, so a deadlock fails the test instead of hanging the run.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_token_usage.record import LOG_FILE_NAME
from otel_token_usage.testing import FakeClock, FakeProvider

from .forking import hold_log_lock

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 40
CALLS_PER_REQUEST = 2


def run_scenario(name: str, tmp_path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fork_scenarios", name, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


@pytest.mark.slow
def test_fork_while_another_thread_is_mid_export(tmp_path: Path) -> None:
    """A child forked while another thread is inside export() (holding the exporter's
    and the writer's locks, waiting for another writer's flock) makes its first export
    and exits without deadlock; the parent's export completes once the flock is free."""
    report = run_scenario("mid-export", tmp_path)
    assert report["child"] == 0, "the child hung (killed) or failed"
    assert report["lines"] == {"blocked": 1, "child": 1}


@pytest.mark.slow
def test_fork_with_lines_in_the_retry_buffer(tmp_path: Path) -> None:
    """A child forked while a line waits in the retry buffer does not write it; the
    parent does, once."""
    report = run_scenario("retry-buffer", tmp_path)
    assert report["child"] == 0
    assert report["lines"] == {"pending": 1, "child": 1}


@pytest.mark.slow
def test_fork_while_a_throttled_logger_is_held(tmp_path: Path) -> None:
    """Every throttled warning (exporter, extraction, session processor, metrics,
    instrumentors) goes through a Throttle: a child forked while another thread is
    inside one can still warn."""
    assert run_scenario("throttle-held", tmp_path)["child"] == 0


def get(port: int, session: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", f"/?session={session}&calls={CALLS_PER_REQUEST}")
        response = connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["retry-buffer", "mid-export"])
def test_gunicorn_preload_workers_write_every_call_exactly_once(
    tmp_path: Path, scenario: str
) -> None:
    """gunicorn --preload, 4 sync workers, forked from a master that set up the pipeline
    and made a call whose line was, at the fork, waiting in the retry buffer
    (`retry-buffer`) or being exported by another thread (`mid-export`). 40 requests of
    2 real Anthropic SDK calls each; SIGTERM; every worker exits cleanly (no hang) and
    every call is exactly one line, the master's warm-up call included (never doubled by
    the workers)."""
    pytest.importorskip("gunicorn")
    sessions = tmp_path / "sessions"
    holder = None
    if scenario == "retry-buffer":
        sessions.write_text("a file where the sessions directory belongs")
        warm_up = "preload"
    else:
        holder = hold_log_lock(sessions, "blocked")
        warm_up = "blocked"
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    with FakeProvider(clock=FakeClock()) as fake, open(tmp_path / "gunicorn.log", "wb") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env |= {
            "TOKEN_USAGE_TEST_SESSIONS": str(sessions),
            "TOKEN_USAGE_TEST_BASE_URL": fake.base_url,
            "TOKEN_USAGE_TEST_SCENARIO": scenario,
            "NO_PROXY": "127.0.0.1,localhost",
            "HOME": str(tmp_path),  # newer gunicorns put a control socket in ~/.gunicorn
        }
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--preload", "--workers", "4"),
                *("--worker-class", "sync", "--bind", f"fd://{listener.fileno()}"),
                *("--graceful-timeout", "10", "--timeout", "30", "--chdir", str(ROOT)),
                "tests.gunicorn_app:app",
            ],
            pass_fds=[listener.fileno()],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        listener.close()  # gunicorn holds it now
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda n: get(port, f"req-{n}"), range(REQUESTS)))
            if holder is not None:
                os.close(holder)  # the master's export of the warm-up call goes on
                holder = None
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            if holder is not None:
                os.close(holder)
    output = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert server.returncode == 0, output
    workers = {answer["pid"] for answer in answers}
    assert len(workers) >= 2, "the requests were not spread over the workers"
    exited = {int(p.name) for p in (tmp_path / "exited").iterdir()}
    assert workers <= exited, f"workers that did not exit cleanly: {workers - exited}\n{output}"

    logs = {log.parent.name: log.read_bytes().splitlines() for log in sessions.glob("*/*")}
    assert all(log.name == LOG_FILE_NAME for log in sessions.glob("*/*"))
    assert sorted(logs) == sorted([warm_up, *(f"req-{n}" for n in range(REQUESTS))])
    assert len(logs[warm_up]) == 1, "the master's pending line was written more than once"
    for n in range(REQUESTS):
        written = [json.loads(line) for line in logs[f"req-{n}"]]
        assert len(written) == CALLS_PER_REQUEST
        assert {line["session_id"] for line in written} == {f"req-{n}"}
    # Every call of every request is exactly one line: as many lines as response ids.
    assert sum(map(len, logs.values())) == 1 + REQUESTS * CALLS_PER_REQUEST
    assert len({i for answer in answers for i in answer["ids"]}) == REQUESTS * CALLS_PER_REQUEST
