"""Helpers for the fork tests: hold a log's `flock` as another writer would, see that a
thread waits for it, and wait for a child with a bound (a hung child is killed)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

from otel_token_usage.record import LOG_FILE_NAME

TIMEOUT_S = 15.0


def hold_log_lock(sessions: Path, session: str) -> int:
    """Create `session`'s log and take its exclusive flock on a descriptor of our own,
    as another process appending to it would; an exporter writing there then waits in
    `flock`, holding its own locks. Returns the descriptor (close it to release)."""
    log = sessions / session / LOG_FILE_NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def wait_for_lock_waiter(sessions: Path, session: str, pid: int) -> None:
    """Return once process `pid` waits for the flock of `session`'s log (the kernel lists
    waiters in /proc/locks with `->`); TimeoutError after TIMEOUT_S."""
    inode = os.stat(sessions / session / LOG_FILE_NAME).st_ino
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        with open("/proc/locks", encoding="ascii") as locks:
            for line in locks:
                fields = line.split()
                if "->" in fields and str(pid) in fields and fields[-3].endswith(f":{inode}"):
                    return
        time.sleep(0.01)
    raise TimeoutError(f"nobody waits for the lock of {session}")


def wait_bounded(pid: int, timeout_s: float = TIMEOUT_S) -> int | None:
    """The exit status of child `pid` (its code, or -signal), or None when it did not
    exit within `timeout_s`: it is then killed and reaped."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None
