"""`token-usage validate` and `token-usage schema`: strict checks of every line, and the
JSON Schema of a line."""

from __future__ import annotations

import argparse
import sys

import orjson

from otel_token_usage._util import printable
from otel_token_usage.analysis import (
    AnalysisError,
    BadLine,
    BadLines,
    find_logs,
    record_schema,
    validate_lines,
)

from ._common import EXIT_BAD_LINES, path_arg, warn_bad

__all__ = ["configure", "run", "run_schema"]


def configure(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")


def run(args: argparse.Namespace) -> int:
    bad = good = 0
    skipped = BadLines()
    for item in validate_lines(find_logs(args.path), skipped):
        if isinstance(item, BadLine):
            bad += 1
            if not args.quiet:
                print(printable(str(item)))
        else:
            good += item
    if bad == 0 and good == 0 and not skipped.unreadable:
        raise AnalysisError(f"{args.path}: empty, no lines to validate")
    skipped.count = 0  # each bad line is printed above; only the unreadable paths are left
    unread = warn_bad(skipped)
    unread_note = f", {len(skipped.unreadable)} unreadable" if skipped.unreadable else ""
    print(
        f"{good} valid, {bad} invalid line{'s' if bad != 1 else ''}{unread_note}",
        file=sys.stderr if bad or unread else sys.stdout,
    )
    return EXIT_BAD_LINES if bad else unread


def run_schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(orjson.dumps(record_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def no_arguments(_parser: argparse.ArgumentParser) -> None:
    """`schema` takes no arguments."""
