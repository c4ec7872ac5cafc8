"""What the `token-usage` commands share: their common arguments, the parsers of
argument values, and how they warn."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from otel_token_usage._util import printable
from otel_token_usage.analysis import (
    DEFAULT_THRESHOLD,
    BadLines,
    CacheTimeline,
    Call,
    find_logs,
    parse_time,
    read_calls,
)
from otel_token_usage.pricing import PriceBook

PROG = "token-usage"
EXIT_BAD_LINES = 1
EXIT_UNREADABLE = 1
"""Exit status when a directory or log could not be read (the rest was analysed)."""
EXIT_ERROR = 2


def path_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="a token-usage.jsonl, a session directory, a sessions tree, or - for stdin"
    )


def format_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output format (default: table)",
    )


def prices_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="TOML or JSON price file that overrides or adds model prices (USD per million tokens)",
    )


def range_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=moment,
        help="only calls at or after this time (RFC 3339 or YYYY-MM-DD, UTC if no offset; "
        "compared as instants, whatever offset a line's ts has)",
    )
    parser.add_argument("--until", type=moment, help="only calls before this time")


def timeline_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", help="only this session id")
    parser.add_argument(
        "--ttl",
        type=duration,
        help="cache TTL to assume, e.g. 5m or 1h "
        "(default: 1h for sessions that wrote 1-hour cache entries, else 5m)",
    )
    parser.add_argument(
        "--threshold",
        type=ratio,
        default=DEFAULT_THRESHOLD,
        help="hit ratio under which a round is cold (default: 0.5)",
    )


def open_timeline(args: argparse.Namespace) -> tuple[CacheTimeline, BadLines, Iterator[Call]]:
    timeline = CacheTimeline(ttl_s=args.ttl, threshold=args.threshold, prices=price_book(args))
    bad = BadLines()
    calls = read_calls(find_logs(args.path), bad)
    if args.session is not None:
        calls = (call for call in calls if call.session_id == args.session)
    return timeline, bad, calls


def warn(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr; control characters (from log content) escaped."""
    print(f"{PROG}: {printable(message)}", file=stream or sys.stderr)


def warn_bad(bad: BadLines) -> int:
    """Warn of skipped lines and of each unreadable path; the exit status that follows
    (`EXIT_UNREADABLE` when something could not be read, else 0)."""
    for where in bad.unreadable:
        warn(f"skipped, cannot be read: {where}")
    if bad.count:
        shown = "; ".join(str(item) for item in bad.samples[:3])
        more = f" (and {bad.count - 3} more)" if bad.count > 3 else ""
        what = "line that is not a record" if bad.count == 1 else "lines that are not records"
        warn(f"skipped {bad.count} {what}: {shown}{more}")
    return EXIT_UNREADABLE if bad.unreadable else 0


def no_calls(args: argparse.Namespace, bad: BadLines) -> str:
    if bad.unreadable and not bad.count:
        more = f" (and {len(bad.unreadable) - 1} more)" if len(bad.unreadable) > 1 else ""
        return f"nothing could be read: {bad.unreadable[0]}{more}"
    if args.session is not None:
        return f"{args.path}: no calls of session {args.session!r}"
    if bad.count:
        return f"{args.path}: not a session log (none of its {bad.count} lines is a record)"
    return f"{args.path}: empty, no records to analyse"


def price_book(args: argparse.Namespace) -> PriceBook:
    return PriceBook.from_file(args.prices) if args.prices else PriceBook()


def silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$", re.IGNORECASE)


def duration(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 300, 5m, 1h)")
    factor = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}[(match.group(2) or "").lower()]
    return round(float(match.group(1)) * factor)


def moment(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use RFC 3339, e.g. 2026-06-15T10:00:00Z, or 2026-06-15)"
        ) from None


def ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"not a ratio between 0 and 1: {text!r}")
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value
