"""The session-log line as a pydantic model: `TokenUsageRecord`, and the prompt-side
`TokenBudgetUsage` snapshot.

Its JSON line is byte for byte `RecordLine`'s (and so the Rust engine's) for the same
values. Integer fields carry the width of their Rust type (`u32`, `u64`, `usize` = 64
bits) and refuse negatives, bools, floats and values past that width.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ._line import BUDGET_FIELDS, COUNT_LIMITS, EXTENSION_FIELDS, SEED_FIELDS, U32_MAX, U64_MAX

__all__ = ["TokenBudgetUsage", "TokenUsageRecord"]

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
    after them, every one on every line (`null` when unknown); `to_json_line(seed=True)`
    leaves them out so the line is exactly the Rust engine's. Unknown trailing fields are
    ignored on read, as Rust readers of the format do.
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

        `seed=True` writes exactly fields 1-20 (the Rust engine's line); otherwise every
        extension field follows them, `null` when unknown (what the export path writes).
        """
        exclude = set(EXTENSION_FIELDS) if seed else None
        return self.model_dump_json(exclude=exclude)


def _upper_limit(field: str) -> int | None:
    for constraint in TokenUsageRecord.model_fields[field].metadata:
        limit = getattr(constraint, "le", None)
        if limit is not None:
            return int(limit)
    return None


# `RecordLine` declares the fields, their order and widths; the model must agree.
if tuple(TokenUsageRecord.model_fields) != (*SEED_FIELDS, *EXTENSION_FIELDS) or any(
    _upper_limit(name) != limit for name, limit in COUNT_LIMITS.items()
):
    raise RuntimeError("TokenUsageRecord differs from RecordLine")

_BUDGET_DEFAULTS: dict[str, Any] = {name: 0 for name in BUDGET_FIELDS} | {
    "truncation_occurred": False
}


def _budget_fields(usage: TokenBudgetUsage | None) -> dict[str, Any]:
    if usage is None:
        return dict(_BUDGET_DEFAULTS)
    return {name: getattr(usage, name) for name in BUDGET_FIELDS}
