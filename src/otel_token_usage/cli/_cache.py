"""`token-usage cache`: the cache timeline, one row per call, with the reason of every
cold round, and each session's summary right after its rows."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from itertools import chain
from typing import Any

from otel_token_usage.analysis import (
    AnalysisError,
    BadLines,
    CacheTimeline,
    SessionCache,
    TimelineRow,
    find_logs,
    json_header,
    json_input,
    nothing_read,
    timeline_items,
    write_timeline,
)

from ._common import (
    filter_args,
    filters_of,
    format_arg,
    path_arg,
    price_book,
    prices_arg,
    progress_of,
    timeline_args,
    warn_bad,
    warn_no_match,
)

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    timeline_args(parser)
    parser.add_argument("--cold-only", action="store_true", help="list cold rounds only")
    filter_args(parser)
    format_arg(parser)
    prices_arg(parser)


def run(args: argparse.Namespace) -> int:
    filters = filters_of(args)
    logs = find_logs(args.path)
    timeline = CacheTimeline(ttl_s=args.ttl, threshold=args.threshold, prices=price_book(args))
    bad = BadLines()
    bar = progress_of(logs)
    items: Iterator[TimelineRow | SessionCache] = timeline_items(
        logs, timeline, bad, filters=filters, on_block=bar.advance
    )
    if args.cold_only:
        items = (item for item in items if not isinstance(item, TimelineRow) or item.cold)
    try:
        # Nothing is written before the first row or summary: an input with no valid line
        # at all is an error, not an empty document.
        first = next(items, None)
        if first is None and bad.valid == 0 and not bad.outside:
            raise AnalysisError(nothing_read(logs, bad))

        def tail() -> dict[str, Any]:
            return {
                "sessions": [session.as_dict() for session in timeline.sessions],
                "input": json_input(bad, len(logs)),
            }

        head = {**json_header("cache", filters), "threshold": args.threshold, "ttl_s": args.ttl}
        write_timeline(
            chain([first], items) if first is not None else items,
            args.format,
            bar.guard(sys.stdout),
            head=head,
            tail=tail,
        )
    finally:
        bar.close()
    if not timeline.sessions:
        warn_no_match(filters)
    return warn_bad(bad, args)
