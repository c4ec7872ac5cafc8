"""`token-usage report` and `token-usage cost`: sums per session, model or day."""

from __future__ import annotations

import argparse
import sys

from otel_token_usage.analysis import GroupBy, Report, summarize, write_costs, write_report
from otel_token_usage.pricing import PriceBook

from ._common import (
    format_arg,
    path_arg,
    positive,
    price_book,
    prices_arg,
    range_args,
    warn,
    warn_bad,
)

__all__ = ["configure_cost", "configure_report", "run_cost", "run_report"]


def configure_report(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    parser.add_argument(
        "--by",
        choices=("session", "model", "day"),
        default="session",
        help="group by session, model or UTC day (default: session)",
    )
    range_args(parser)
    format_arg(parser)
    prices_arg(parser)
    parser.add_argument(
        "--jobs", type=positive, help="worker processes (default: one per CPU for large inputs)"
    )


def configure_cost(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    range_args(parser)
    format_arg(parser)
    prices_arg(parser)
    parser.add_argument("--jobs", type=positive, help="worker processes")


def _summarize(args: argparse.Namespace, by: GroupBy) -> tuple[Report, PriceBook]:
    book = price_book(args)
    report = summarize(
        args.path,
        by=by,
        since=args.since,
        until=args.until,
        prices=book,
        jobs=args.jobs,
        progress=True,
    )
    for (provider, model), calls in sorted(report.unknown_prices.items()):
        warn(
            f"no price known for {provider}/{model} ({calls} calls): the costs shown leave "
            "them out (see unpriced_calls); add a price with --prices FILE"
        )
    return report, book


def run_report(args: argparse.Namespace) -> int:
    report, _book_used = _summarize(args, args.by)
    write_report(report, args.format, sys.stdout)
    return warn_bad(report.bad)


def run_cost(args: argparse.Namespace) -> int:
    report, book = _summarize(args, "model")
    write_costs(report, book, args.format, sys.stdout)
    return warn_bad(report.bad)
