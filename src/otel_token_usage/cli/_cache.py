"""`token-usage cache`: the cache timeline, one row per call, with the reason of every
cold round."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from otel_token_usage.analysis import AnalysisError, TimelineRow, write_timeline

from ._common import (
    format_arg,
    no_calls,
    open_timeline,
    path_arg,
    prices_arg,
    timeline_args,
    warn_bad,
)

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    timeline_args(parser)
    parser.add_argument("--cold-only", action="store_true", help="list cold rounds only")
    format_arg(parser)
    prices_arg(parser)


def run(args: argparse.Namespace) -> int:
    timeline, bad, calls = open_timeline(args)
    rows: Iterator[TimelineRow] = timeline.rows(calls)
    if args.cold_only:
        rows = (row for row in rows if row.cold)
    write_timeline(rows, lambda: timeline.sessions, args.format, sys.stdout)
    if not timeline.sessions:
        raise AnalysisError(no_calls(args, bad))
    return warn_bad(bad)
