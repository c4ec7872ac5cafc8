"""`token-usage ingest`: session logs built from OTLP JSON trace files (see
`otel_token_usage.ingest` for the rule that makes a re-run add nothing)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from otel_token_usage.export import ExporterSettings
from otel_token_usage.ingest import (
    DEFAULT_MAX_HELD_IDS,
    STDIN,
    IngestError,
    Ingestor,
    follow_files,
    ingest_files,
)
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION

from ._common import positive

__all__ = ["EXIT_SKIPPED", "configure_parser", "run"]

EXIT_SKIPPED = 1
"""Exit status when unreadable lines or spans were skipped (the rest was ingested)."""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The arguments of `token-usage ingest`."""
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="OTLP JSON trace file: the collector's `file` exporter output or the "
        "opentelemetry-exporter-otlp-json-file output, plain or gzip; - for stdin",
    )
    parser.add_argument(
        "--sessions-dir",
        metavar="DIR",
        help="root of the session directories "
        "(default: $OTEL_TOKEN_USAGE_SESSIONS_DIR, else ./sessions)",
    )
    parser.add_argument(
        "--fallback-session",
        metavar="ID",
        help="session of calls that name none (default: $OTEL_TOKEN_USAGE_FALLBACK_SESSION, "
        f"else {DEFAULT_FALLBACK_SESSION})",
    )
    parser.add_argument(
        "--line-format",
        choices=("extended", "seed"),
        help="extended (default, or $OTEL_TOKEN_USAGE_LINE_FORMAT) or seed (the 20 Rust fields)",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep reading as the files grow and are rotated, like tail -F; stop with Ctrl-C",
    )
    parser.add_argument(
        "--follow-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="follow, and stop after SECONDS with nothing new",
    )
    parser.add_argument(
        "--poll-interval",
        type=_seconds,
        default=0.5,
        metavar="SECONDS",
        help="when following, how often the files are checked (default: 0.5)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="ingest only the sessions of shard K of N (0 <= K < N): the CRC-32 of the "
        "session id modulo N; N processes, one per shard, write what one would",
    )
    parser.add_argument(
        "--max-held-ids",
        type=positive,
        default=DEFAULT_MAX_HELD_IDS,
        metavar="N",
        help="ids of logged calls held in memory to recognise them (about 100 bytes "
        f"each; default: {DEFAULT_MAX_HELD_IDS:,}); past it, the least recently seen "
        "sessions' logs are read again when needed",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    parser.epilog = (
        "Re-running over the same or overlapping files adds no line twice. Unreadable "
        "lines are reported as FILE:LINE and skipped. Exit status: 0 all read, "
        "1 something skipped, 2 error."
    )


def run(args: argparse.Namespace) -> int:
    """Run `token-usage ingest`; the exit status (see the module docstring)."""
    following = bool(args.follow or args.follow_timeout is not None)
    _check_paths(args.files, following)
    try:
        settings = ExporterSettings.resolve(
            sessions_dir=args.sessions_dir,
            fallback_session=args.fallback_session,
            line_format=args.line_format,
        )
    except ValueError as exc:
        raise IngestError(str(exc)) from None
    ingestor = Ingestor(
        settings.sessions_dir,
        fallback_session=settings.fallback_session,
        line_format=settings.line_format,
        dir_mode=settings.dir_mode,
        file_mode=settings.file_mode,
        max_open_files=settings.max_open_files,
        max_held_ids=args.max_held_ids,
        shard=args.shard,
        report=_say,
    )
    with ingestor:
        if following:
            stop = threading.Event()
            with _StopOnSignals(stop):
                stats = follow_files(
                    args.files,
                    ingestor,
                    stop,
                    poll_interval=args.poll_interval,
                    idle_timeout=args.follow_timeout,
                )
        else:
            stats = ingest_files(args.files, ingestor)
    if not args.quiet:
        print(stats.summary())
    return EXIT_SKIPPED if stats.skipped else 0


def _check_paths(paths: list[str], following: bool) -> None:
    if paths.count(STDIN) > 1:
        raise IngestError("stdin (-) can be read only once")
    for path in paths:
        if path == STDIN:
            continue
        if os.path.isdir(path):
            raise IngestError(f"{path}: is a directory (name the trace files)")
        if not os.path.exists(path):
            if not following:
                raise IngestError(f"{path}: no such file")
            _say(f"{path}: does not exist yet; waiting for it")


class _StopOnSignals:
    """SIGINT and SIGTERM set `stop` (a clean end of following) instead of raising."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)

    def __exit__(self, *_exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, _number: int, _frame: FrameType | None) -> None:
        self._stop.set()


def _say(message: str) -> None:
    print(f"token-usage: {message}", file=sys.stderr)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (-1, 0)
    if not 0 <= shard[0] < shard[1]:
        raise argparse.ArgumentTypeError(f"not a shard K/N with 0 <= K < N: {text!r}")
    return shard
