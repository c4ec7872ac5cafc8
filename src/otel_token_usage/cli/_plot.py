"""`token-usage plot`: pictures of the cache timeline."""

from __future__ import annotations

import argparse
from pathlib import Path

from otel_token_usage.analysis import PLOT_SUFFIXES, AnalysisError, plot_timelines

from ._common import no_calls, open_timeline, path_arg, prices_arg, timeline_args, warn_bad

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="picture to write: .png, .svg or .html",
    )
    timeline_args(parser)
    prices_arg(parser)


def run(args: argparse.Namespace) -> int:
    if Path(args.output).suffix.lower() not in PLOT_SUFFIXES:
        raise AnalysisError(f"{args.output}: the picture must be .png, .svg or .html")
    timeline, bad, calls = open_timeline(args)
    rows = list(timeline.rows(calls))
    if not rows:
        raise AnalysisError(no_calls(args, bad))
    status = warn_bad(bad)
    sessions = {s.session_id: s for s in timeline.sessions}
    for path in plot_timelines(rows, sessions, args.output, threshold=args.threshold):
        print(path)
    return status
