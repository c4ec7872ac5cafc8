"""What the `token-usage` commands share: their common arguments, the parsers of
argument values, and how they warn."""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime
from typing import TextIO

from otel_token_usage._util import printable
from otel_token_usage.analysis import (
    DEFAULT_THRESHOLD,
    BadLines,
    Filters,
    LogFile,
    Progress,
    parse_time,
)
from otel_token_usage.pricing import PriceBook

PROG = "token-usage"
EXIT_INCOMPLETE = 1
"""Exit status when something was left out: a directory or log that could not be read,
or, with `--strict` (and always for `validate`), a skipped line. The rest was analysed."""
EXIT_ERROR = 2


def path_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="a token-usage.jsonl, a session directory, a sessions tree, or - for stdin"
    )


def format_arg(
    parser: argparse.ArgumentParser,
    choices: tuple[str, ...] = ("table", "json", "csv"),
    help_text: str = "output format (default: table)",
) -> None:
    parser.add_argument("--format", choices=choices, default="table", help=help_text)


def prices_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="TOML or JSON price file that overrides or adds model prices (USD per million tokens)",
    )


def filter_args(parser: argparse.ArgumentParser) -> None:
    """`--since`, `--until`, `--session`, `--model` and `--strict`: every command's."""
    group = parser.add_argument_group("selection (every command)")
    group.add_argument(
        "--since",
        type=moment,
        help="only calls at or after this time (RFC 3339 or YYYY-MM-DD, UTC if no offset; "
        "compared as instants, whatever offset a line's ts has)",
    )
    group.add_argument("--until", type=moment, help="only calls before this time")
    group.add_argument(
        "--session",
        action="append",
        default=[],
        metavar="ID",
        help="only this session; a glob such as 'ticket-*' matches many; repeat for more",
    )
    group.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="only calls to this model (the line's model field; a glob such as "
        "'claude-*' matches many); repeat for more",
    )
    group.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any line was skipped (not valid), not only when a log could not be read",
    )


def filters_of(args: argparse.Namespace) -> Filters:
    """The selection the arguments of `filter_args` ask for."""
    return Filters(args.since, args.until, tuple(args.session), tuple(args.model))


def top_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--top",
        type=positive,
        metavar="N",
        help=f"only the N costliest {what}, costliest first (the total stays that of all)",
    )


def timeline_args(parser: argparse.ArgumentParser) -> None:
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


def progress_of(logs: list[LogFile], label: str = "reading") -> Progress:
    """A progress bar over the bytes of `logs`, on stderr when it is a terminal."""
    return Progress(sum(log.size or 0 for log in logs) or None, label=label)


def warn(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr; control characters (from log content) escaped."""
    print(f"{PROG}: {printable(message)}", file=stream or sys.stderr)


def warn_bad(bad: BadLines, args: argparse.Namespace) -> int:
    """Warn of skipped lines and of each unreadable path; the exit status that follows:
    `EXIT_INCOMPLETE` when something could not be read, or when a line was skipped and
    `args.strict` is set; else 0."""
    for where in bad.unreadable:
        warn(f"skipped, cannot be read: {where}")
    if bad.count:
        shown = "; ".join(str(item) for item in bad.samples[:3])
        more = f" (and {bad.count - 3} more)" if bad.count > 3 else ""
        what = "line that is not a record" if bad.count == 1 else "lines that are not records"
        warn(f"skipped {bad.count} {what}: {shown}{more}")
    if bad.unreadable or (bad.count and getattr(args, "strict", False)):
        return EXIT_INCOMPLETE
    return 0


def warn_no_match(filters: Filters) -> None:
    """Say that valid lines were read but none is selected."""
    warn(f"no calls match {filters.describe()}")


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
