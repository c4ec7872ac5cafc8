"""The session-log line as the export path builds it: `RecordLine`, and its encoding.

`RecordLine` is the one declaration of the line's fields, their order and their Rust
widths; every other list of field names (`SEED_FIELDS`, `EXTENSION_FIELDS`,
`BUDGET_FIELDS`, `COUNT_LIMITS`) is derived from it, and the pydantic
`TokenUsageRecord` is checked against it at import.

The line is byte for byte what the Rust engine (`bamboo-engine`) writes with
`serde_json::to_string` for the same values: compact, fields in declaration order,
strings escaped as serde_json escapes them (msgspec agrees with it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NamedTuple, get_type_hints

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "BUDGET_FIELDS",
    "COUNT_LIMITS",
    "EXTENSION_FIELDS",
    "SEED_FIELDS",
    "U32_MAX",
    "U64_MAX",
    "RecordLine",
    "encode_line",
    "encode_lines",
    "format_ts",
]

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1


class RustInt(NamedTuple):
    """The Rust integer type of a field (annotation metadata): its largest value."""

    name: str
    max: int


U32 = Annotated[int, RustInt("u32", U32_MAX)]
U64 = Annotated[int, RustInt("u64", U64_MAX)]
USize = Annotated[int, RustInt("usize", U64_MAX)]
"""Rust `usize` on the 64-bit targets the engine ships for."""


class RecordLine(msgspec.Struct, gc=False):
    """One LLM call's line. Fields 1-20 are the Rust `TokenUsageRecord`'s, in its order;
    the extension fields follow.

    The extended format writes every extension field on every line, `null` when unknown,
    so that tools which infer a schema from the first lines they see (DuckDB, pandas)
    meet every column. Left `UNSET`, as a seed-format line leaves them, they are not
    written at all: the line is exactly the Rust engine's twenty fields.

    Built from values extraction has already checked: constructing it validates nothing
    (msgspec checks types only when decoding), so the export path pays no second pass.
    """

    ts: str
    session_id: str
    model: str
    provider: str
    message_count: USize
    cache_creation_input_tokens: U64
    cache_read_input_tokens: U64
    input_tokens: U64
    output_tokens: U64
    thinking_tokens: U64
    system_tokens: U32
    summary_tokens: U32
    window_tokens: U32
    total_tokens: U32
    max_context_tokens: U32
    budget_limit: U32
    prompt_cached_tool_outputs: USize
    prompt_cached_tool_tokens_saved: U32
    truncation_occurred: bool
    segments_removed: USize
    # --- extensions (never before field 20) ---
    trace_id: str | UnsetType | None = UNSET
    span_id: str | UnsetType | None = UNSET
    duration_ms: int | UnsetType | None = UNSET
    cache_creation_5m_input_tokens: int | UnsetType | None = UNSET
    cache_creation_1h_input_tokens: int | UnsetType | None = UNSET


_SEED_COUNT = 20
SEED_FIELDS: tuple[str, ...] = RecordLine.__struct_fields__[:_SEED_COUNT]
"""The twenty fields of the Rust record, in line order."""
EXTENSION_FIELDS: tuple[str, ...] = RecordLine.__struct_fields__[_SEED_COUNT:]
"""Fields this project adds after field 20: on every extended line, null when unknown."""
BUDGET_FIELDS: tuple[str, ...] = SEED_FIELDS[10:]
"""The record fields copied from a `TokenBudgetUsage` (0/false without one)."""


def _limits() -> dict[str, int]:
    limits: dict[str, int] = {}
    for name, hint in get_type_hints(RecordLine, include_extras=True).items():
        widths = [mark for mark in getattr(hint, "__metadata__", ()) if isinstance(mark, RustInt)]
        if widths and name in SEED_FIELDS:
            limits[name] = widths[0].max
    return limits


COUNT_LIMITS: dict[str, int] = _limits()
"""Integer field of the Rust record -> the largest value its Rust type holds."""

_encoder = msgspec.json.Encoder()


def encode_lines(lines: Sequence[RecordLine]) -> bytes:
    """`RecordLine`s as newline-framed JSON, in one call for a whole batch.

    Each line equals `TokenUsageRecord.to_json_line()` plus `\\n`. Strings that are not
    valid Unicode (lone surrogates) are written with U+FFFD in their place rather than
    dropped."""
    try:
        return _encoder.encode_lines(lines)
    except UnicodeEncodeError:
        return b"".join(_encode_cleaned(line) for line in lines)


def encode_line(values: Mapping[str, Any]) -> bytes:
    """One record, given as field values, as a framed line."""
    return encode_lines([RecordLine(**values)])


def _encode_cleaned(line: RecordLine) -> bytes:
    texts = {
        name: _replace_surrogates(value)
        for name in line.__struct_fields__
        if isinstance(value := getattr(line, name), str)
    }
    return _encoder.encode_lines([msgspec.structs.replace(line, **texts)])


def _replace_surrogates(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def format_ts(epoch_ns: int) -> str:
    """RFC 3339 UTC with millisecond precision and a `Z` suffix, from nanoseconds since
    the Unix epoch.

    Always a valid RFC 3339 time: a value before 1970 (OTLP times are unsigned) is
    written as `1970-01-01T00:00:00.000Z`, one past year 9999 (RFC 3339 years have four
    digits) as `9999-12-31T23:59:59.999Z`; the call keeps its line either way."""
    global _ts_cache  # noqa: PLW0603 - a one-entry cache; a tuple swap is atomic
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    # Spans of one batch mostly end within the same second: format that part once. The
    # cache only ever holds a second within range, so the range is checked on a miss.
    cached_seconds, prefix = _ts_cache
    if seconds != cached_seconds:
        if not 0 <= seconds <= _MAX_TS_S:
            return _CLAMPED_TS[seconds > 0]
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
        _ts_cache = (seconds, prefix)
    return prefix + _MILLIS[rest // 1_000_000]


_MAX_TS_S = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second RFC 3339 can write."""
_CLAMPED_TS = ("1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")
_ts_cache: tuple[int, str] = (0, "1970-01-01T00:00:00.")
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))
