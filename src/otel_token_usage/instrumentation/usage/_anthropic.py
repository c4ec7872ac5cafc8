"""Anthropic Messages usage (also Claude on Bedrock `InvokeModel` and on Vertex AI, which
keep Anthropic's shape).

`input_tokens` excludes the cache: the conventions' inclusive input is
`input + cache_read + cache_creation`. `cache_creation.ephemeral_5m/1h_input_tokens`
split the cache write by TTL; `output_tokens_details.thinking_tokens` is the thinking
part of `output_tokens`.
"""

from __future__ import annotations

from otel_token_usage._util import field

from ._model import Usage, count, exclusive

__all__ = ["FIELDS", "read"]

FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
)
"""Any of these set means the usage has Anthropic's shape."""


def read(usage: object) -> Usage:
    """`Usage` of an Anthropic `Usage` / `MessageDeltaUsage` or its dict form."""
    split = field(usage, "cache_creation")
    return exclusive(
        fresh=count(usage, "input_tokens") or 0,
        cache_read=count(usage, "cache_read_input_tokens") or 0,
        cache_write=count(usage, "cache_creation_input_tokens"),
        write_5m=count(split, "ephemeral_5m_input_tokens"),
        write_1h=count(split, "ephemeral_1h_input_tokens"),
        output=count(usage, "output_tokens") or 0,
        reasoning=count(field(usage, "output_tokens_details"), "thinking_tokens"),
    )
