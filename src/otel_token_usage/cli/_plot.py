"""`token-usage plot`: a picture of a whole sessions tree, or of each session's cache
timeline."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from otel_token_usage.analysis import (
    PLOT_SUFFIXES,
    STDIN,
    STDIN_NAME,
    AnalysisError,
    BadLines,
    CacheTimeline,
    JsonObject,
    LogFile,
    Out,
    Report,
    SessionCache,
    TimelineRow,
    find_logs,
    json_header,
    json_input,
    nothing_read,
    plot_overview,
    plot_timelines,
    summarize,
    timeline_items,
)

from ._common import (
    filter_args,
    filters_of,
    format_arg,
    path_arg,
    positive,
    price_book,
    prices_arg,
    progress_of,
    timeline_args,
    warn,
    warn_bad,
)

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
    parser.add_argument(
        "--per-session",
        action="store_true",
        help="a timeline picture per session (FILE-SESSION.png, or one .html page) instead "
        "of the overview of the tree (a single session is always drawn as its timeline)",
    )
    parser.add_argument(
        "--last",
        type=positive,
        metavar="N",
        help="timeline pictures: only the last N rounds of each session",
    )
    parser.add_argument(
        "--top",
        type=positive,
        metavar="N",
        help="the N costliest sessions: named in the overview (default 20, the others "
        "share a bar), or the only ones drawn with --per-session",
    )
    timeline_args(parser)
    filter_args(parser)
    format_arg(parser, ("table", "json"), "what is printed: each file written (table) or JSON")
    prices_arg(parser)
    parser.add_argument("--jobs", type=positive, help="worker processes for the overview")
    parser.epilog = (
        "Without --per-session, a tree of several sessions is drawn as one overview: cost "
        "and cache hit ratio per UTC day, and the costliest sessions. Each file written "
        "is printed as it is written."
    )


def run(args: argparse.Namespace) -> int:
    if Path(args.output).suffix.lower() not in PLOT_SUFFIXES:
        raise AnalysisError(f"{args.output}: the picture must be .png, .svg or .html")
    if args.path != STDIN:
        return _plot(args, find_logs(args.path))
    # Two passes (the sums, then the timelines) read the input twice: stdin is copied to
    # a file first, which messages still call <stdin>.
    with tempfile.TemporaryDirectory(prefix="token-usage-") as spool:
        copy = Path(spool) / "stdin.jsonl"
        with copy.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out)
        return _plot(args, [LogFile(str(copy), copy.stat().st_size, None, name=STDIN_NAME)])


def _plot(args: argparse.Namespace, logs: list[LogFile]) -> int:
    filters = filters_of(args)
    book = price_book(args)
    report: Report | None = None
    if not args.per_session or args.top:
        report = summarize(
            logs, by="session", filters=filters, prices=book, jobs=args.jobs, progress=True
        )
        if not report.total.calls:
            raise AnalysisError(f"nothing to plot: no calls match {filters.describe()}")
    bad = report.bad if report is not None else BadLines()
    if report is not None and not args.per_session and len(report.groups) > 1:
        if args.last is not None:
            warn("--last draws the last rounds of a timeline: use it with --per-session")
        files: Iterable[Path] = [plot_overview(report, args.output, top=args.top)]
        _write(args, "overview", files, sys.stdout, bad=bad, logs=logs)
    else:
        chosen = None
        if report is not None and args.top:
            chosen = {group.session_id for group in report.top(args.top).groups}
        bad = BadLines()  # read again: counted again
        bar = progress_of(logs, "drawing")
        items = _only(
            timeline_items(
                logs,
                CacheTimeline(ttl_s=args.ttl, threshold=args.threshold, prices=book),
                bad,
                filters=filters,
                on_block=bar.advance,
            ),
            chosen,
        )
        pictures = plot_timelines(
            items,
            args.output,
            threshold=args.threshold,
            last=args.last,
            per_session=args.per_session,
        )
        try:
            _write(args, "sessions", pictures, bar.guard(sys.stdout), bad=bad, logs=logs)
        except AnalysisError:
            if bad.valid or bad.outside:
                raise
            raise AnalysisError(nothing_read(logs, bad)) from None  # not a session log
        finally:
            bar.close()
    return warn_bad(bad, args)


def _only(
    items: Iterator[TimelineRow | SessionCache], sessions: set[str | None] | None
) -> Iterator[TimelineRow | SessionCache]:
    if sessions is None:
        return items
    return (item for item in items if item.session_id in sessions)


def _write(
    args: argparse.Namespace,
    mode: str,
    files: Iterable[Path],
    out: Out,
    *,
    bad: BadLines,
    logs: list[LogFile],
) -> None:
    # Each file as it is written: its path on a line, or a JSON object listing them.
    if args.format != "json":
        for path in files:
            out.write(f"{path}\n")
        return
    document = JsonObject(out)
    for name, value in {**json_header("plot", filters_of(args)), "mode": mode}.items():
        document.key(name, value)
    document.open_list("files")
    for path in files:
        document.item(str(path))
    document.close_list()
    document.key("input", json_input(bad, len(logs)))
    document.close()
