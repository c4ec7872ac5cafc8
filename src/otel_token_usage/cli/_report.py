"""`token-usage report` and `token-usage cost`: sums per session, model or day."""

from __future__ import annotations

import argparse
import sys

from otel_token_usage.analysis import GroupBy, Report, summarize, write_costs, write_report
from otel_token_usage.pricing import PriceBook

from ._common import (
    filter_args,
    filters_of,
    format_arg,
    path_arg,
    positive,
    price_book,
    prices_arg,
    top_arg,
    warn,
    warn_bad,
    warn_no_match,
)

__all__ = ["configure_cost", "configure_report", "run_cost", "run_report"]


def _configure(parser: argparse.ArgumentParser, default_by: GroupBy) -> None:
    path_arg(parser)
    parser.add_argument(
        "--by",
        choices=("session", "model", "day"),
        default=default_by,
        help=f"group by session, model or UTC day (default: {default_by})",
    )
    top_arg(parser, "groups")
    filter_args(parser)
    format_arg(parser)
    prices_arg(parser)
    parser.add_argument(
        "--jobs", type=positive, help="worker processes (default: one per CPU for large inputs)"
    )


def configure_report(parser: argparse.ArgumentParser) -> None:
    _configure(parser, "session")


def configure_cost(parser: argparse.ArgumentParser) -> None:
    _configure(parser, "model")


def _summarize(args: argparse.Namespace) -> tuple[Report, PriceBook]:
    book = price_book(args)
    filters = filters_of(args)
    report = summarize(
        args.path, by=args.by, filters=filters, prices=book, jobs=args.jobs, progress=True
    )
    for (provider, model), calls in sorted(report.unknown_prices.items()):
        warn(
            f"no price known for {provider}/{model} ({calls} calls): the costs shown leave "
            "them out (see unpriced_calls); add a price with --prices FILE"
        )
    if report.total.calls == 0:
        warn_no_match(filters)
    return report.top(args.top), book


def run_report(args: argparse.Namespace) -> int:
    report, _book_used = _summarize(args)
    write_report(report, args.format, sys.stdout)
    return warn_bad(report.bad, args)


def run_cost(args: argparse.Namespace) -> int:
    report, book = _summarize(args)
    write_costs(report, book, args.format, sys.stdout)
    return warn_bad(report.bad, args)
