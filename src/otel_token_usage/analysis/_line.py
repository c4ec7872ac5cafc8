"""What a valid log line is: the one definition every `token-usage` command applies,
`validate` included.

A line is valid when it is one JSON object, in UTF-8, that has every field of the Rust
record (`RecordLine`'s first twenty) with its type:

- `ts` a real RFC 3339 date and time with an offset (`Z` or `+hh:mm`; the fraction may
  have any number of digits, a space may stand for the `T`), that exists in UTC
  (`0001-01-01T00:30:00+01:00` does not); a leap second (`:60`) is not accepted;
- `session_id`, `model`, `provider` strings; `truncation_occurred` `true`/`false`;
- every count an integer (no float, no bool, no string) from 0 to its Rust type's maximum
  (`u32`, `u64`, `usize` = 64 bits), so a count past `u64` is a bad line, never a sum;

and whose extension fields, when present and not null, have theirs: `trace_id` 32 and
`span_id` 16 lowercase hex digits, `duration_ms` and the 5-minute/1-hour cache writes
`u64` counts. Other fields are ignored, as Rust readers of the format ignore them. Blank
lines are not records: the analysis passes over them, `validate` reports them (a strict
JSON Lines reader stops at them).

Two decoders apply this definition. `check_line` is the definition itself, one line at a
time; `decode_block` decodes a whole block of lines in one C call (msgspec) and accepts
it only if every line passes checks that are at least as strict (an integer past the
63-bit range sends its block to `check_line`, which decides). Both give the same values
for a line both accept.

Times compare as instants (offsets are honoured); `utc_day` and `ts_text` give the UTC
day and the UTC text of a `ts`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as clock
from operator import attrgetter
from typing import Annotated, Any, get_type_hints

import msgspec

from otel_token_usage.record import EXTENSION_FIELDS, U64_MAX, RecordLine

__all__ = [
    "Line",
    "check_line",
    "decode_block",
    "moment",
    "next_utc_day",
    "ts_text",
    "utc_day",
]

Line = Any
"""A decoded valid line: a struct with every `RecordLine` field as an attribute, `ts` an
aware `datetime`, extension fields None when absent."""

_INT64_MAX = 2**63 - 1
_HEX = b"0123456789abcdef"
_ID_WIDTHS = {"trace_id": 32, "span_id": 16}
_Time = Annotated[datetime, msgspec.Meta(tz=True)]


def _limits() -> dict[str, int]:
    # The largest value of each integer field: its Rust width where `RecordLine` names
    # one, else (the optional extension counts) u64, as `TokenUsageRecord` declares.
    limits: dict[str, int] = {}
    for name, hint in get_type_hints(RecordLine, include_extras=True).items():
        widths = [mark.max for mark in getattr(hint, "__metadata__", ()) if hasattr(mark, "max")]
        if widths:
            limits[name] = widths[0]
        elif name in EXTENSION_FIELDS and int in getattr(hint, "__args__", ()):
            limits[name] = U64_MAX
    return limits


_LIMITS = _limits()
_WIDE = tuple(name for name, limit in _LIMITS.items() if limit > _INT64_MAX)


def _struct(name: str, wide_limit: int | None) -> Any:
    # The line as a msgspec struct. msgspec bounds stop at the 64-bit signed range, so
    # counts wider than that are bounded to `wide_limit` (None: only `ge=0`, and
    # `check_line` checks the rest).
    hints = get_type_hints(RecordLine)
    fields: list[Any] = []
    for field_name in RecordLine.__struct_fields__:
        limit = _LIMITS.get(field_name)
        kind: Any
        if field_name == "ts":
            kind = _Time
        elif limit is not None:
            bound = limit if limit <= _INT64_MAX else wide_limit
            kind = Annotated[int, msgspec.Meta(ge=0, le=bound) if bound else msgspec.Meta(ge=0)]
        elif field_name in EXTENSION_FIELDS:
            kind = str  # the extension ids; the writer's own markers (unset) are not text
        else:
            kind = hints[field_name]
        if field_name in EXTENSION_FIELDS:
            fields.append((field_name, kind | None, None))
        else:
            fields.append((field_name, kind))
    return msgspec.defstruct(name, fields, frozen=True, gc=False)


_EXACT = msgspec.json.Decoder(_struct("Line", None))
_FAST = msgspec.json.Decoder(_struct("FastLine", _INT64_MAX))


def check_line(raw: bytes) -> Line | str:
    """The line decoded, if valid; else why not, in a few words (never the line's text)."""
    try:
        line = _EXACT.decode(raw)
    except msgspec.ValidationError as error:
        return str(error).replace("`$.", "`")
    except msgspec.DecodeError as error:
        text = str(error)
        if "truncated" in text:
            return "not JSON: the line ends early (a torn line)"
        return f"not JSON: {text}"
    except UnicodeDecodeError:
        return "not UTF-8: a string holds bytes that are not UTF-8 text"
    for name in _WIDE:
        value = getattr(line, name)
        if value is not None and value > U64_MAX:
            return f"`{name}` is past the largest u64 ({U64_MAX})"
    for name, width in _ID_WIDTHS.items():
        value = getattr(line, name)
        if value is not None and not _hex_ids([value], width):
            return f"`{name}` is not {width} lowercase hex digits"
    if not _in_utc([line.ts]):
        return "`ts` is outside the years 1 to 9999 in UTC"
    return line


def decode_block(block: bytes, lines: int) -> list[Line] | None:
    """The `lines` whole lines of `block`, decoded in one go, if every one is valid and
    decodes as `check_line` would; else None (the caller then goes line by line)."""
    try:
        records: list[Line] = _FAST.decode_lines(block)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    # Blank lines are skipped by the decoder and a line holding two values yields two, so
    # a count mismatch sends the block to the per-line path, which tells them apart.
    if len(records) != lines or not records:
        return None
    for name, width in _ID_WIDTHS.items():
        ids = list(map(_GET[name], records))
        if None in ids:  # lines without ids: rare, so a Python pass is fine
            ids = [value for value in ids if value is not None]
        if ids and not _hex_ids(ids, width):
            return None
    if not _in_utc(list(map(_GET["ts"], records))):
        return None
    return records


_GET = {name: attrgetter(name) for name in ("ts", *_ID_WIDTHS)}


def _hex_ids(ids: list[str], width: int) -> bool:
    # All of `width` lowercase hex digits: C passes over their lengths and their joined
    # ASCII bytes.
    if set(map(len, ids)) != {width}:
        return False
    try:
        joined = "".join(ids).encode("ascii")
    except UnicodeEncodeError:
        return False
    return not joined.translate(None, _HEX)


def _in_utc(stamps: list[datetime]) -> bool:
    # Instants compare across offsets, so the earliest and the latest are the only ones
    # that can fall outside what UTC datetimes hold.
    try:
        min(stamps).astimezone(UTC)
        max(stamps).astimezone(UTC)
    except OverflowError:
        return False
    return True


def utc_day(ts: datetime) -> str:
    """`YYYY-MM-DD`, the UTC day of `ts`."""
    return ts.astimezone(UTC).date().isoformat()


def next_utc_day(ts: datetime) -> datetime | None:
    """Midnight UTC after `ts` (None on the last day datetimes hold)."""
    try:
        return datetime.combine(ts.astimezone(UTC).date() + timedelta(days=1), clock(), UTC)
    except OverflowError:
        return None


def ts_text(ts: datetime) -> str:
    """`ts` in UTC as the log writes it (`2026-06-15T10:00:00.123Z`), with microseconds
    when it has a part finer than a millisecond."""
    utc = ts.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micro = utc.microsecond
    return f"{text}.{micro // 1000:03d}Z" if micro % 1000 == 0 else f"{text}.{micro:06d}Z"


def moment(value: datetime | str) -> datetime:
    """A point in time for `since`/`until`: an aware datetime as it is, a naive one taken
    as UTC; text in ISO 8601 (RFC 3339, or a bare `YYYY-MM-DD`), UTC when it has no
    offset. Raises ValueError otherwise."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not a time: {value!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
