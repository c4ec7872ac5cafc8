"""`token-usage` run as a real subprocess with its stderr (and perhaps its stdout) on a
pseudo-terminal, as a person runs it, measuring the peak memory of its process tree."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_POLL_S = 0.02


@dataclass
class Run:
    """What a run showed and used. `terminal` is every byte written to the terminal (or,
    without one, to the stderr pipe); `peak_mb` the largest resident size of the command's
    process tree at once (its worker processes included), in MB."""

    returncode: int
    stdout: bytes
    terminal: bytes
    peak_mb: float
    seconds: float


def run_measured(
    *args: str | Path,
    stdout: Path,
    on_terminal: bool,
    stdout_on_terminal: bool = False,
    env: dict[str, str] | None = None,
    timeout_s: float = 600,
) -> Run:
    """Run `token-usage ARGS`; its stdout goes to the file `stdout` (or, with
    `stdout_on_terminal`, to the terminal too). Peak memory is sampled from /proc every
    20 ms: the larger of the most the tree held at once (the sum of its processes'
    resident sizes) and the largest process's own high-water mark (`VmHWM`, which the
    kernel keeps between samples). Not `wait4`'s `ru_maxrss`: it counts the copy of this
    process that the child was before it ran the command."""
    environment = {k: v for k, v in os.environ.items() if k != "OTEL_TOKEN_USAGE_DEBUG"}
    environment.update(env or {})
    primary = secondary = -1
    if on_terminal:
        primary, secondary = pty.openpty()
    started = time.monotonic()
    with stdout.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "otel_token_usage", *map(str, args)],
            stdin=subprocess.DEVNULL,
            stdout=secondary if stdout_on_terminal else out,
            stderr=secondary if on_terminal else subprocess.PIPE,
            env=environment,
        )
    if on_terminal:
        os.close(secondary)
        source = primary
    else:
        assert process.stderr is not None
        source = process.stderr.fileno()
    shown = bytearray()
    reader = threading.Thread(target=_drain, args=(source, shown), daemon=True)
    reader.start()
    peak_kb = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(process.pid, peak_kb, done), daemon=True)
    sampler.start()
    deadline = started + timeout_s
    while True:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(_POLL_S)
    seconds = time.monotonic() - started
    done.set()
    sampler.join()
    reader.join(timeout=10)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stderr is not None:
        process.stderr.close()
    if on_terminal:
        os.close(primary)
    text = b"" if stdout_on_terminal else stdout.read_bytes()
    return Run(
        process.returncode,
        text,
        bytes(shown),
        peak_kb[0] / 1024,
        seconds,
    )


def _drain(source: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(source, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            return
        if not chunk:
            return
        into.extend(chunk)


def _sample(pid: int, peak_kb: list[int], done: threading.Event) -> None:
    while not done.is_set():
        peak_kb[0] = max(peak_kb[0], *_tree_kb(pid))
        time.sleep(_POLL_S)


def _tree_kb(pid: int) -> tuple[int, int]:
    # (resident KB summed over the process tree, the largest VmHWM in it); a process that
    # is not yet running the command (no `otel_token_usage` in its command line) is left
    # out: until it execs, it is a copy of this one.
    total = highest = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
            command = Path(f"/proc/{current}/cmdline").read_bytes()
        except OSError:
            continue
        pending.extend(int(child) for child in children.split())
        if current == pid and b"otel_token_usage" not in command:
            continue
        total += _field_kb(status, "VmRSS")
        highest = max(highest, _field_kb(status, "VmHWM"))
    return total, highest


def _field_kb(status: str, name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+)", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def screen(shown: bytes) -> list[str]:
    """The lines a terminal shows after `shown`: a carriage return goes back to the start
    of the line, `ESC [ K` erases to its end, a newline starts the next line."""
    lines = [""]
    column = 0
    text = shown.decode("utf-8", "replace").replace("\r\n", "\n")
    for token in re.findall(r"\x1b\[K|\r|\n|[^\r\n\x1b]+|\x1b", text):
        current = lines[-1]
        if token == "\n":
            lines.append("")
            column = 0
        elif token == "\r":
            column = 0
        elif token == "\x1b[K":
            lines[-1] = current[:column]
        else:
            lines[-1] = current[:column] + token + current[column + len(token) :]
            column += len(token)
    return lines
