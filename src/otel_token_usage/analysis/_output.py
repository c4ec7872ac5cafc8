"""What every command's output shares: the JSON envelope with its `schema_version`, the
JSON and CSV encodings, and the plain-text table.

JSON is written by msgspec, whose integers have no 64-bit limit, so counts stay exact
however large. Every JSON document a command writes is one object that starts with the
same keys (`envelope`): `schema_version` (this module's `SCHEMA_VERSION`, raised when a
key changes meaning or goes away; new keys may be added within a version), `command`,
`filters` (the selection, same keys whatever is set) and `input` (what was read and
what was skipped). CSV writes `true`/`false` for booleans and an empty cell for null.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from ._filter import Filters
from ._reader import BadLines

__all__ = [
    "SCHEMA_VERSION",
    "JsonObject",
    "Out",
    "csv_cell",
    "dump_json",
    "encode_json",
    "envelope",
    "fmt_int",
    "fmt_pct",
    "fmt_usd",
    "json_header",
    "json_input",
    "write_csv",
    "write_table",
]

SCHEMA_VERSION = 1
"""Version of the JSON output's shape (see the module docstring)."""


class Out(Protocol):
    """Where output goes: a text stream, or anything with its `write`."""

    def write(self, text: str, /) -> int: ...


def envelope(command: str, filters: Filters, bad: BadLines, logs: int) -> dict[str, Any]:
    """The keys every JSON output has: `schema_version`, `command`, `filters` and
    `input` (see `json_input`)."""
    return {**json_header(command, filters), "input": json_input(bad, logs)}


def json_header(command: str, filters: Filters) -> dict[str, Any]:
    """The keys a JSON output starts with, known before reading: `schema_version`,
    `command`, `filters`."""
    return {"schema_version": SCHEMA_VERSION, "command": command, "filters": filters.as_dict()}


def json_input(bad: BadLines, logs: int) -> dict[str, Any]:
    """What was read: the number of `logs`, the valid lines read (selected or not), the
    skipped lines (`skipped_lines`; the first few as `{path, line, reason}` in `skipped`)
    and the paths that could not be read (`unreadable`, each `path: reason`)."""
    return {
        "logs": logs,
        "valid_lines": bad.valid,
        "skipped_lines": bad.count,
        "skipped": [
            {"path": item.path, "line": item.line, "reason": item.reason} for item in bad.samples
        ],
        "unreadable": list(bad.unreadable),
    }


class JsonObject:
    """Writes one JSON object a key at a time, so that a long list in it streams out:
    `key(name, value)` for a whole value, `open_list(name)`, `item(value)` per element
    and `close_list()` for a streamed one, then `close()`. Each value is one line."""

    def __init__(self, out: Out) -> None:
        self._out = out
        self._keys = 0
        self._items = -1
        out.write("{")

    def key(self, name: str, value: Any) -> None:
        """Write `name: value`."""
        self._name(name)
        self._out.write(encode_json(value))

    def open_list(self, name: str) -> None:
        """Start the list `name`, to be filled by `item` and ended by `close_list`."""
        self._name(name)
        self._out.write("[")
        self._items = 0

    def item(self, value: Any) -> None:
        """Add `value` to the open list."""
        self._out.write(",\n    " if self._items else "\n    ")
        self._out.write(encode_json(value))
        self._items += 1

    def close_list(self) -> None:
        """End the open list."""
        self._out.write("\n  ]" if self._items else "]")
        self._items = -1

    def close(self) -> None:
        """End the object (and the output's last line)."""
        self._out.write("\n}\n")

    def _name(self, name: str) -> None:
        self._out.write(",\n  " if self._keys else "\n  ")
        self._out.write(encode_json(name) + ": ")
        self._keys += 1


def encode_json(value: Any) -> str:
    """`value` as compact JSON text (one line); integers exact at any size."""
    return msgspec.json.encode(value).decode()


def dump_json(value: Any) -> str:
    """`value` as indented JSON with a final newline; integers exact at any size."""
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n"


def csv_cell(value: Any) -> Any:
    """A value as CSV writes it: `true`/`false`, an empty cell for None, a list as its
    items separated by spaces."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return value


def write_csv(out: Out, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """The header, then each row (cells through `csv_cell`); the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        count += 1
    return count


def write_table(out: Out, headers: list[str], rows: list[list[str]]) -> None:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip() + "\n"

    out.write(line(headers))
    out.write(line(["-" * w for w in widths]))
    for row in rows:
        out.write(line(row))


def fmt_int(value: int) -> str:
    """`1,234,567` (Python ints: exact at any size)."""
    return f"{value:,}"


def fmt_pct(value: float | None) -> str:
    """`87.5%`, or `-` for None."""
    return "-" if value is None else f"{value:.1%}"


def fmt_usd(value: Decimal | float | None) -> str:
    """`1,234.5678`, or `?` for None."""
    return "?" if value is None else f"{value:,.4f}"
