"""The session-log line: `TokenUsageRecord` and its prompt-side `TokenBudgetUsage`.

The line is byte-for-byte what the Rust engine (`bamboo-engine`) writes with
`serde_json::to_string` for the same values: compact, fields in declaration order,
strings escaped as serde_json escapes them (pydantic-core and msgspec agree with it).
Integer fields carry the width of their Rust type (`u32`, `u64`, `usize` = 64 bits) and
refuse negatives, bools, floats and values past that width.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from ._record_fields import EXTENSION_FIELDS, SEED_FIELDS

__all__ = [
    "BUDGET_FIELDS",
    "COUNT_LIMITS",
    "EXTENSION_FIELDS",
    "SEED_FIELDS",
    "U32_MAX",
    "U64_MAX",
    "RecordLine",
    "TokenBudgetUsage",
    "TokenUsageRecord",
    "encode_line",
    "encode_lines",
    "format_ts",
]

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1

U32 = Annotated[int, Field(ge=0, le=U32_MAX, strict=True)]
U64 = Annotated[int, Field(ge=0, le=U64_MAX, strict=True)]
# Rust `usize` on the 64-bit targets the engine ships for.
USize = Annotated[int, Field(ge=0, le=U64_MAX, strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]


class TokenBudgetUsage(BaseModel):
    """Prompt-side budget snapshot of one call, as `bamboo_domain::TokenBudgetUsage`.

    What the agent computed about its own prompt before sending it; the server's usage
    lives on the record. Immutable; every field is required, as in Rust.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    system_tokens: U32
    summary_tokens: U32
    window_tokens: U32
    total_tokens: U32
    max_context_tokens: U32
    budget_limit: U32
    truncation_occurred: StrictBool
    segments_removed: USize
    prompt_cached_tool_outputs: USize
    prompt_cached_tool_tokens_saved: U32
    thinking_tokens: U64
    cache_read_input_tokens: U64


class TokenUsageRecord(BaseModel):
    """One LLM call: server-returned usage plus the prompt-side budget snapshot.

    Fields 1-20 are the Rust record's, in its order. The optional extension fields come
    after them and are written only when known; `to_json_line(seed=True)` leaves them out
    so the line is exactly the Rust engine's. Unknown trailing fields are ignored on read,
    as Rust readers of the format do.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

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
    truncation_occurred: StrictBool
    segments_removed: USize
    # --- extensions (never before field 20) ---
    trace_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    span_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")] | None = None
    duration_ms: U64 | None = None
    cache_creation_5m_input_tokens: U64 | None = None
    cache_creation_1h_input_tokens: U64 | None = None

    @classmethod
    def new(  # noqa: PLR0917 - mirrors the Rust constructor's positional order
        cls,
        ts: str,
        session_id: str,
        model: str,
        provider: str,
        message_count: int,
        usage: TokenBudgetUsage | None,
        cache_creation_input_tokens: int,
        cache_read_input_tokens: int,
        input_tokens: int,
        output_tokens: int,
        thinking_tokens: int,
    ) -> TokenUsageRecord:
        """Build a record the way the Rust `TokenUsageRecord::new` does.

        Budget fields come from `usage`, or are 0/false when there is no snapshot.
        """
        budget = _budget_fields(usage)
        return cls(
            ts=ts,
            session_id=session_id,
            model=model,
            provider=provider,
            message_count=message_count,
            cache_creation_input_tokens=cache_creation_input_tokens,
            cache_read_input_tokens=cache_read_input_tokens,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            thinking_tokens=thinking_tokens,
            **budget,
        )

    @property
    def prompt_tokens(self) -> int:
        """The precise prompt size: fresh input plus cache reads plus cache writes."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens

    def to_json_line(self, *, seed: bool = False) -> str:
        """The record as one compact JSON line, without the trailing newline.

        `seed=True` writes exactly fields 1-20 (the Rust engine's line); otherwise the
        extension fields that are set follow them.
        """
        exclude = set(EXTENSION_FIELDS) if seed else None
        return self.model_dump_json(exclude=exclude, exclude_none=True)


# SEED_FIELDS and EXTENSION_FIELDS are defined once, in `_record_fields` (importable
# without pydantic); the model must declare exactly those fields, in that order.
if tuple(TokenUsageRecord.model_fields) != (*SEED_FIELDS, *EXTENSION_FIELDS):
    raise RuntimeError("TokenUsageRecord's fields differ from _record_fields' names")

BUDGET_FIELDS: tuple[str, ...] = SEED_FIELDS[10:]
"""The record fields copied from a `TokenBudgetUsage` (0/false without one)."""


def _upper_limit(field: str) -> int | None:
    for constraint in TokenUsageRecord.model_fields[field].metadata:
        limit = getattr(constraint, "le", None)
        if limit is not None:
            return int(limit)
    return None


COUNT_LIMITS: dict[str, int] = {
    field: limit for field in SEED_FIELDS if (limit := _upper_limit(field)) is not None
}
"""Integer field -> largest value its Rust type holds (u32, u64, usize as 64 bits)."""

_BUDGET_DEFAULTS: dict[str, Any] = {name: 0 for name in BUDGET_FIELDS} | {
    "truncation_occurred": False
}


def _budget_fields(usage: TokenBudgetUsage | None) -> dict[str, Any]:
    if usage is None:
        return dict(_BUDGET_DEFAULTS)
    return {name: getattr(usage, name) for name in BUDGET_FIELDS}


RecordLine: Any = msgspec.defstruct(
    "RecordLine",
    [(name, Any) for name in SEED_FIELDS] + [(name, Any, None) for name in EXTENSION_FIELDS],
    omit_defaults=True,
    gc=False,
)
"""The export path's form of a record: the same fields in the same order, built from
values that extraction has already checked (no second validation). Extension fields
default to None and are then left off the line. Made from `TokenUsageRecord`'s fields,
so the two cannot drift apart."""

_encoder = msgspec.json.Encoder()


def encode_lines(lines: Sequence[Any]) -> bytes:
    """`RecordLine`s as newline-framed JSON, in one call for a whole batch.

    msgspec escapes strings exactly as serde_json does, so each line equals
    `TokenUsageRecord.to_json_line()` plus `\\n`. Strings that are not valid Unicode
    (lone surrogates) are written with U+FFFD in their place rather than dropped.
    """
    try:
        return _encoder.encode_lines(lines)
    except UnicodeEncodeError:
        return b"".join(_encode_cleaned(line) for line in lines)


def encode_line(values: Mapping[str, Any]) -> bytes:
    """One record, given as field values in line order, as a framed line."""
    return encode_lines([RecordLine(**values)])


def _encode_cleaned(line: Any) -> bytes:
    fields = msgspec.structs.asdict(line)
    cleaned = {k: _replace_surrogates(v) if isinstance(v, str) else v for k, v in fields.items()}
    return _encoder.encode_lines([RecordLine(**cleaned)])


def _replace_surrogates(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def format_ts(epoch_ns: int) -> str:
    """RFC 3339 UTC with millisecond precision and a `Z` suffix, from nanoseconds."""
    global _ts_cache  # noqa: PLW0603 - a one-entry cache; a tuple swap is atomic
    seconds, rest = divmod(epoch_ns, 1_000_000_000)
    # Spans of one batch mostly end within the same second: format that part once.
    cached_seconds, prefix = _ts_cache
    if seconds != cached_seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))
        _ts_cache = (seconds, prefix)
    return prefix + _MILLIS[rest // 1_000_000]


_ts_cache: tuple[int, str] = (-1, "")
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))
