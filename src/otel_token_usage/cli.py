"""`token-usage`: offline analysis of session logs (report, cache, cost, plot, validate,
schema).

Each subcommand is a `Command` (name, help, how to configure its parser, how to run);
another module adds one by appending to `COMMANDS`. Errors a person can meet end in one
line on stderr and a non-zero exit status, never a traceback (set
`OTEL_TOKEN_USAGE_DEBUG=1` to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import orjson

from .analysis import (
    DEFAULT_THRESHOLD,
    PLOT_SUFFIXES,
    AnalysisError,
    BadLine,
    CacheTimeline,
    Call,
    GroupBy,
    PriceBook,
    Report,
    TimelineRow,
    find_logs,
    plot_timelines,
    read_calls,
    record_schema,
    summarize,
    validate_lines,
    write_costs,
    write_report,
    write_timeline,
)
from .analysis import BadLines as _BadLines

__all__ = ["COMMANDS", "Command", "main"]

PROG = "token-usage"
EXIT_BAD_LINES = 1
EXIT_ERROR = 2


@dataclass(frozen=True)
class Command:
    """A subcommand: `configure` adds its arguments, `run` returns the exit status."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _path_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="a token-usage.jsonl, a session directory, a sessions tree, or - for stdin"
    )


def _format_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="output format (default: table)",
    )


def _prices_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="TOML or JSON price file that overrides or adds model prices (USD per million tokens)",
    )


def _range_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=_moment,
        help="only calls at or after this time (RFC 3339 or YYYY-MM-DD, UTC if no offset)",
    )
    parser.add_argument("--until", type=_moment, help="only calls before this time")


def _timeline_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", help="only this session id")
    parser.add_argument(
        "--ttl",
        type=_duration,
        help="cache TTL to assume, e.g. 5m or 1h "
        "(default: 1h for sessions that wrote 1-hour cache entries, else 5m)",
    )
    parser.add_argument(
        "--threshold",
        type=_ratio,
        default=DEFAULT_THRESHOLD,
        help="hit ratio under which a round is cold (default: 0.5)",
    )


def _configure_report(parser: argparse.ArgumentParser) -> None:
    _path_arg(parser)
    parser.add_argument(
        "--by",
        choices=("session", "model", "day"),
        default="session",
        help="group by session, model or UTC day (default: session)",
    )
    _range_args(parser)
    _format_arg(parser)
    _prices_arg(parser)
    parser.add_argument(
        "--jobs", type=_positive, help="worker processes (default: one per CPU for large inputs)"
    )


def _configure_cost(parser: argparse.ArgumentParser) -> None:
    _path_arg(parser)
    _range_args(parser)
    _format_arg(parser)
    _prices_arg(parser)
    parser.add_argument("--jobs", type=_positive, help="worker processes")


def _configure_cache(parser: argparse.ArgumentParser) -> None:
    _path_arg(parser)
    _timeline_args(parser)
    parser.add_argument("--cold-only", action="store_true", help="list cold rounds only")
    _format_arg(parser)
    _prices_arg(parser)


def _configure_plot(parser: argparse.ArgumentParser) -> None:
    _path_arg(parser)
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="picture to write: .png, .svg or .html",
    )
    _timeline_args(parser)
    _prices_arg(parser)


def _configure_validate(parser: argparse.ArgumentParser) -> None:
    _path_arg(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")


def _summarize(args: argparse.Namespace, by: GroupBy) -> tuple[Report, PriceBook]:
    book = _book(args)
    report = summarize(
        args.path,
        by=by,
        since=args.since,
        until=args.until,
        prices=book,
        jobs=args.jobs,
        progress=True,
    )
    _warn_bad(report.bad)
    for (provider, model), calls in sorted(report.unknown_prices.items()):
        _warn(
            f"no price known for {provider}/{model} ({calls} calls): its cost is shown as "
            "unknown; add it with --prices FILE"
        )
    return report, book


def _run_report(args: argparse.Namespace) -> int:
    report, _book_used = _summarize(args, args.by)
    write_report(report, args.format, sys.stdout)
    return 0


def _run_cost(args: argparse.Namespace) -> int:
    report, book = _summarize(args, "model")
    write_costs(report, book, args.format, sys.stdout)
    return 0


def _timeline(args: argparse.Namespace) -> tuple[CacheTimeline, _BadLines, Iterator[Call]]:
    timeline = CacheTimeline(ttl_s=args.ttl, threshold=args.threshold, prices=_book(args))
    bad = _BadLines()
    calls = read_calls(find_logs(args.path), bad)
    if args.session is not None:
        calls = (call for call in calls if call.session_id == args.session)
    return timeline, bad, calls


def _run_cache(args: argparse.Namespace) -> int:
    timeline, bad, calls = _timeline(args)
    rows: Iterator[TimelineRow] = timeline.rows(calls)
    if args.cold_only:
        rows = (row for row in rows if row.cold)
    write_timeline(rows, lambda: timeline.sessions, args.format, sys.stdout)
    if not timeline.sessions:
        raise AnalysisError(_no_calls(args, bad))
    _warn_bad(bad)
    return 0


def _run_plot(args: argparse.Namespace) -> int:
    if Path(args.output).suffix.lower() not in PLOT_SUFFIXES:
        raise AnalysisError(f"{args.output}: the picture must be .png, .svg or .html")
    timeline, bad, calls = _timeline(args)
    rows = list(timeline.rows(calls))
    if not rows:
        raise AnalysisError(_no_calls(args, bad))
    _warn_bad(bad)
    sessions = {s.session_id: s for s in timeline.sessions}
    for path in plot_timelines(rows, sessions, args.output, threshold=args.threshold):
        print(path)
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    bad = good = 0
    for item in validate_lines(find_logs(args.path)):
        if isinstance(item, BadLine):
            bad += 1
            if not args.quiet:
                print(item)
        else:
            good += item
    if bad == 0 and good == 0:
        raise AnalysisError(f"{args.path}: empty, no lines to validate")
    print(
        f"{good} valid, {bad} invalid line{'s' if bad != 1 else ''}",
        file=sys.stderr if bad else sys.stdout,
    )
    return EXIT_BAD_LINES if bad else 0


def _run_schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(orjson.dumps(record_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _configure_ingest(parser: argparse.ArgumentParser) -> None:
    # `ingest` needs the OpenTelemetry SDK and pydantic: imported for that command only.
    from .ingest import configure_parser  # noqa: PLC0415

    configure_parser(parser)


def _run_ingest(args: argparse.Namespace) -> int:
    from .ingest import run  # noqa: PLC0415 - see _configure_ingest

    return run(args)


COMMANDS: list[Command] = [
    Command(
        "report",
        "usage, cache effectiveness and cost per session, model or day",
        _configure_report,
        _run_report,
    ),
    Command(
        "cache",
        "cache timeline per call, with the reason of every cold round",
        _configure_cache,
        _run_cache,
    ),
    Command(
        "cost",
        "cost by model with cache prices, and the saving versus no cache",
        _configure_cost,
        _run_cost,
    ),
    Command(
        "plot",
        "picture of prompt size, cache reads/writes and hit ratio per round",
        _configure_plot,
        _run_plot,
    ),
    Command(
        "validate",
        "check every line against the record schema (exit 1 on bad lines)",
        _configure_validate,
        _run_validate,
    ),
    Command("schema", "print the JSON Schema of a log line", lambda _parser: None, _run_schema),
    Command(
        "ingest",
        "build session logs from OTLP JSON trace files (collector `file` exporter), "
        "optionally following them",
        _configure_ingest,
        _run_ingest,
    ),
]
"""The subcommands, in help order."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of every command in `COMMANDS`. With `only` (a command's
    name), the other commands are listed but their arguments are not set up, so that
    what they import is not loaded."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Analyse token-usage.jsonl session logs offline."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        if only is None or command.name == only:
            command.configure(child)
        child.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `token-usage` with `argv` (default: the process's); returns the exit status.

    Run as the program (`argv` None), it also tunes the process's garbage collector for
    a short run: collections are rarer, and none scan the objects still alive at exit."""
    if argv is None:
        # The price data alone is tens of thousands of long-lived objects, which the
        # default pace (a collection every 700 new objects) and the exit's collections
        # would scan again and again.
        gc.set_threshold(100_000, 50, 100)
        atexit.register(gc.freeze)
    argv = sys.argv[1:] if argv is None else list(argv)
    named = argv[0] if argv and any(command.name == argv[0] for command in COMMANDS) else None
    parser = build_parser(named)
    args = parser.parse_args(argv)
    try:
        status: int = args._run(args)
        sys.stdout.flush()
    except AnalysisError as error:
        return _fail(str(error))
    except BrokenPipeError:
        # The reader of our output went away (`| head`): not an error worth a message.
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}")
    except Exception as error:  # the CLI promises no traceback
        if os.environ.get("OTEL_TOKEN_USAGE_DEBUG"):
            raise
        return _fail(f"internal error: {type(error).__name__}: {error}")
    return status


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _warn(message: str, stream: TextIO | None = None) -> None:
    print(f"{PROG}: {message}", file=stream or sys.stderr)


def _warn_bad(bad: _BadLines) -> None:
    if not bad.count:
        return
    shown = "; ".join(str(item) for item in bad.samples[:3])
    more = f" (and {bad.count - 3} more)" if bad.count > 3 else ""
    what = "line that is not a record" if bad.count == 1 else "lines that are not records"
    _warn(f"skipped {bad.count} {what}: {shown}{more}")


def _no_calls(args: argparse.Namespace, bad: _BadLines) -> str:
    if args.session is not None:
        return f"{args.path}: no calls of session {args.session!r}"
    if bad.count:
        return f"{args.path}: not a session log (none of its {bad.count} lines is a record)"
    return f"{args.path}: empty, no records to analyse"


def _book(args: argparse.Namespace) -> PriceBook:
    return PriceBook.from_file(args.prices) if args.prices else PriceBook()


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$", re.IGNORECASE)


def _duration(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 300, 5m, 1h)")
    factor = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}[(match.group(2) or "").lower()]
    return round(float(match.group(1)) * factor)


def _moment(text: str) -> str:
    try:
        when = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use RFC 3339, e.g. 2026-06-15T10:00:00Z, or 2026-06-15)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    # The log's own `ts` form, so that times compare as strings.
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"not a ratio between 0 and 1: {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
