"""The session log on disk: safe paths, whole lines only, concurrent appends."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from otel_token_usage.export import SessionLogWriter
from otel_token_usage.record import (
    LOG_FILE_NAME,
    SessionRefusedError,
    session_dir_name,
    session_id_from_dir_name,
)

HOSTILE_IDS = [
    "..",
    ".",
    "a/b",
    "../../etc",
    "/etc/passwd",
    "a\\b",
    "nul\x00byte",
    ".hidden",
    "C:\\Windows",
    "new\nline",
    "100%",
    "é中😀",
]


@pytest.mark.parametrize("session_id", HOSTILE_IDS)
def test_hostile_ids_stay_one_directory_below_sessions_dir(tmp_path: Path, session_id: str) -> None:
    """Every id maps to one plain directory directly inside sessions_dir, reversibly."""
    writer = SessionLogWriter(tmp_path / "sessions")
    writer.append(session_id, b'{"x":1}\n')
    writer.close()
    entries = list((tmp_path / "sessions").iterdir())
    assert len(entries) == 1
    assert entries[0].is_dir() and not entries[0].is_symlink()
    assert (entries[0] / LOG_FILE_NAME).read_bytes() == b'{"x":1}\n'
    assert session_id_from_dir_name(entries[0].name) == session_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sessions"]


def test_plain_ids_are_used_as_they_are() -> None:
    """UUIDs and slugs need no encoding, so the directory is the session id."""
    for session_id in ("sess-1", "3f1c2a9e-0b7d-4c1e-9f0a-2b6d8e4c1a77", "user@host_1.run"):
        assert session_dir_name(session_id) == session_id


@pytest.mark.parametrize("session_id", ["", "x" * 256, "é" * 100])
def test_ids_that_cannot_be_a_directory_name_are_refused(session_id: str) -> None:
    """Empty ids and ids needing over 255 bytes are refused, not truncated."""
    with pytest.raises(SessionRefusedError):
        session_dir_name(session_id)


def test_symlinked_session_directory_is_refused(tmp_path: Path) -> None:
    """A session directory that is a symlink is never followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "evil").symlink_to(outside, target_is_directory=True)
    writer = SessionLogWriter(sessions)
    with pytest.raises(SessionRefusedError):
        writer.append("evil", b"{}\n")
    writer.close()
    assert list(outside.iterdir()) == []


def test_symlinked_log_file_is_refused(tmp_path: Path) -> None:
    """A token-usage.jsonl that is a symlink is never written through."""
    target = tmp_path / "target"
    target.write_bytes(b"")
    session = tmp_path / "sessions" / "s"
    session.mkdir(parents=True)
    (session / LOG_FILE_NAME).symlink_to(target)
    writer = SessionLogWriter(tmp_path / "sessions")
    with pytest.raises(SessionRefusedError):
        writer.append("s", b"{}\n")
    writer.close()
    assert target.read_bytes() == b""


def test_new_directories_and_files_are_private(tmp_path: Path) -> None:
    """Session directories are created 0700 and logs 0600."""
    old = os.umask(0o022)
    try:
        writer = SessionLogWriter(tmp_path / "sessions")
        writer.append("s", b"{}\n")
        writer.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "sessions" / "s").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "sessions" / "s" / LOG_FILE_NAME).stat().st_mode) == 0o600


def test_crash_torn_last_line_is_terminated_before_appending(tmp_path: Path) -> None:
    """A partial last line left by a crash is closed with a newline; nothing is merged."""
    log = tmp_path / "s" / LOG_FILE_NAME
    log.parent.mkdir()
    log.write_bytes(b'{"a":1}\n{"b":2,"trunc')
    writer = SessionLogWriter(tmp_path)
    writer.append("s", b'{"c":3}\n')
    writer.close()
    assert log.read_bytes() == b'{"a":1}\n{"b":2,"trunc\n{"c":3}\n'


def test_descriptor_cache_is_bounded(tmp_path: Path) -> None:
    """No more than max_open_files logs stay open, however many sessions are written."""
    before = len(os.listdir("/proc/self/fd"))
    writer = SessionLogWriter(tmp_path, max_open_files=2)
    for index in range(10):
        writer.append(f"s{index}", b"{}\n")
    during = len(os.listdir("/proc/self/fd"))
    writer.close()
    assert during - before <= 3  # two logs and the sessions directory
    assert len(os.listdir("/proc/self/fd")) == before


def test_rotated_or_removed_log_is_reopened(tmp_path: Path) -> None:
    """Lines never go to a log that was renamed or deleted under the writer."""
    writer = SessionLogWriter(tmp_path)
    writer.append("s", b"1\n")
    log = tmp_path / "s" / LOG_FILE_NAME
    log.rename(tmp_path / "s" / "rotated.jsonl")
    writer.append("s", b"2\n")
    log.unlink()
    writer.append("s", b"3\n")
    writer.close()
    assert (tmp_path / "s" / "rotated.jsonl").read_bytes() == b"1\n"
    assert log.read_bytes() == b"3\n"


def test_writer_recovers_after_its_directory_is_replaced(tmp_path: Path) -> None:
    """A removed sessions directory is recreated by the next append."""
    sessions = tmp_path / "sessions"
    writer = SessionLogWriter(sessions)
    writer.append("s", b"1\n")
    (sessions / "s" / LOG_FILE_NAME).unlink()
    (sessions / "s").rmdir()
    sessions.rmdir()
    writer.append("s", b"2\n")
    writer.close()
    assert (sessions / "s" / LOG_FILE_NAME).read_bytes() == b"2\n"


SHORT_WRITE_CHILD = textwrap.dedent(
    """
    import os, resource, signal, sys
    from otel_token_usage.export import SessionLogWriter
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    root = sys.argv[1]
    writer = SessionLogWriter(root)
    writer.append("s", b'{"n":0}\\n' * 10)            # 80 bytes
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.RLIM_INFINITY))
    try:
        writer.append("s", b'{"n":1}\\n' * 10)        # would end at 160: short write
    except OSError as exc:
        print("refused", exc.errno)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    writer.append("s", b'{"n":2}\\n' * 10)
    writer.close()
    """
)


def test_short_write_at_file_size_limit_leaves_only_whole_lines(tmp_path: Path) -> None:
    """A write cut short by RLIMIT_FSIZE is rolled back; later appends still work."""
    result = subprocess.run(
        [sys.executable, "-c", SHORT_WRITE_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("refused")
    data = (tmp_path / "s" / LOG_FILE_NAME).read_bytes()
    assert data == b'{"n":0}\n' * 10 + b'{"n":2}\n' * 10


CONCURRENT_CHILD = textwrap.dedent(
    """
    import sys, threading
    from otel_token_usage.export import SessionLogWriter
    root, proc = sys.argv[1], int(sys.argv[2])
    # Lines of different lengths make any interleaving or tear visible.
    def run(thread):
        writer = SessionLogWriter(root)
        for batch in range(50):
            lines = b"".join(
                b'{"p":%d,"t":%d,"b":%d,"i":%d,"pad":"%s"}\\n'
                % (proc, thread, batch, i, b"x" * (i * 37 % 500))
                for i in range(20)
            )
            writer.append("shared-%d" % (batch % 3), lines)
        writer.close()
    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    """
)


@pytest.mark.slow
def test_processes_and_threads_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    """4 processes x 4 threads x 50 batches x 20 lines: every line whole, none lost or doubled."""
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_CHILD, str(tmp_path), str(p)])
        for p in range(4)
    ]
    assert all(proc.wait(timeout=120) == 0 for proc in procs)
    seen: set[tuple[int, int, int, int]] = set()
    for session in ("shared-0", "shared-1", "shared-2"):
        data = (tmp_path / session / LOG_FILE_NAME).read_bytes()
        assert data.endswith(b"\n")
        for line in data.splitlines():
            obj = json.loads(line)
            key = (obj["p"], obj["t"], obj["b"], obj["i"])
            assert key not in seen
            seen.add(key)
    assert len(seen) == 4 * 4 * 50 * 20


def test_threads_sharing_one_writer(tmp_path: Path) -> None:
    """One writer used by many threads keeps every batch contiguous."""
    writer = SessionLogWriter(tmp_path)

    def run(thread: int) -> None:
        for batch in range(100):
            writer.append("s", b"".join(b"%d %d %d\n" % (thread, batch, i) for i in range(5)))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    lines = (tmp_path / "s" / LOG_FILE_NAME).read_bytes().splitlines()
    assert len(lines) == 8 * 100 * 5
    for start in range(0, len(lines), 5):
        heads = {tuple(line.split()[:2]) for line in lines[start : start + 5]}
        assert len(heads) == 1  # the five lines of one batch are adjacent


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    """close() twice is fine; appending afterwards raises instead of reopening."""
    writer = SessionLogWriter(tmp_path)
    writer.append("s", b"1\n")
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.append("s", b"2\n")
