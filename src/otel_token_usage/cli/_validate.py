"""`token-usage validate` and `token-usage schema`: strict checks of every line, and the
JSON Schema of a line."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

import orjson

from otel_token_usage._util import printable
from otel_token_usage.analysis import (
    AnalysisError,
    BadLine,
    BadLines,
    Filters,
    JsonObject,
    Out,
    find_logs,
    json_header,
    json_input,
    record_schema,
    validate_lines,
)

from ._common import (
    EXIT_INCOMPLETE,
    filter_args,
    filters_of,
    format_arg,
    path_arg,
    progress_of,
    warn_bad,
    warn_no_match,
)

__all__ = ["configure", "run", "run_schema"]


def configure(parser: argparse.ArgumentParser) -> None:
    path_arg(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    filter_args(parser)
    format_arg(parser)
    parser.epilog = (
        "Every invalid line is listed as FILE:LINE: reason (exit 1); --strict changes "
        "nothing here. With a selection, an invalid line is listed unless what can be "
        "read of it (ts, session_id, model) puts it outside."
    )


def run(args: argparse.Namespace) -> int:
    filters = filters_of(args)
    logs = find_logs(args.path)
    skipped = BadLines()
    bar = progress_of(logs, "checking")
    listing = _Listing(args.format, bar.guard(sys.stdout), quiet=args.quiet, filters=filters)
    bad = good = 0
    try:
        for item in validate_lines(logs, skipped, filters=filters, on_block=bar.advance):
            if isinstance(item, BadLine):
                bad += 1
                listing.add(item)
            else:
                good += item
    finally:
        bar.close()
    if not (bad or skipped.valid or skipped.outside or skipped.unreadable):
        raise AnalysisError(f"{args.path}: empty, no lines to validate")
    listing.finish(good, bad, json_input(skipped, len(logs)))
    if good == 0 and filters.active:
        warn_no_match(filters)
    skipped.count = 0  # each bad line is listed above; only the unreadable paths are left
    unread = warn_bad(skipped, args)
    unread_note = f", {len(skipped.unreadable)} unreadable" if skipped.unreadable else ""
    print(
        f"{good} valid, {bad} invalid line{'s' if bad != 1 else ''}{unread_note}",
        file=sys.stderr if bad or unread or args.format != "table" else sys.stdout,
    )
    return EXIT_INCOMPLETE if bad else unread


class _Listing:
    """The invalid lines in the chosen format, as they are found: `FILE:LINE: reason`
    lines (none with `quiet`), CSV rows, or the `invalid_lines` of one JSON object that
    ends with the counts. JSON and CSV start only with the first line or at `finish`, so
    that an input found empty (an error) writes nothing."""

    def __init__(self, fmt: str, out: Out, *, quiet: bool, filters: Filters) -> None:
        self._fmt = fmt
        self._out = out
        self._quiet = quiet
        self._filters = filters
        self._json: JsonObject | None = None
        self._csv: Any = None

    def add(self, item: BadLine) -> None:
        if self._fmt == "json":
            self._start_json().item({"path": item.path, "line": item.line, "reason": item.reason})
        elif self._fmt == "csv":
            self._start_csv().writerow([item.path, item.line, item.reason])
        elif not self._quiet:
            self._out.write(printable(str(item)) + "\n")

    def finish(self, good: int, bad: int, read: dict[str, Any]) -> None:
        if self._fmt == "json":
            document = self._start_json()
            document.close_list()
            document.key("valid", good)
            document.key("invalid", bad)
            document.key("input", read)
            document.close()
        elif self._fmt == "csv":
            self._start_csv()

    def _start_json(self) -> JsonObject:
        if self._json is None:
            self._json = JsonObject(self._out)
            for name, value in json_header("validate", self._filters).items():
                self._json.key(name, value)
            self._json.open_list("invalid_lines")
        return self._json

    def _start_csv(self) -> Any:
        if self._csv is None:
            self._csv = csv.writer(self._out, lineterminator="\n")
            self._csv.writerow(["path", "line", "reason"])
        return self._csv


def run_schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(orjson.dumps(record_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def no_arguments(_parser: argparse.ArgumentParser) -> None:
    """`schema` takes no arguments."""
