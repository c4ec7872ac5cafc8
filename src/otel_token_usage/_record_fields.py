"""The names of a session-log line's fields, in line order, without importing pydantic.

`record.TokenUsageRecord` declares the same fields and refuses, at import, to differ from
these tuples; modules that only need the names (the log reader of `token-usage`, which
must start quickly) import them from here.
"""

from __future__ import annotations

__all__ = ["EXTENSION_FIELDS", "SEED_FIELDS"]

SEED_FIELDS: tuple[str, ...] = (
    "ts",
    "session_id",
    "model",
    "provider",
    "message_count",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "input_tokens",
    "output_tokens",
    "thinking_tokens",
    "system_tokens",
    "summary_tokens",
    "window_tokens",
    "total_tokens",
    "max_context_tokens",
    "budget_limit",
    "prompt_cached_tool_outputs",
    "prompt_cached_tool_tokens_saved",
    "truncation_occurred",
    "segments_removed",
)
"""The twenty fields of the Rust record, in line order."""

EXTENSION_FIELDS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "duration_ms",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
)
"""Fields this project adds after field 20, each written only when known."""
