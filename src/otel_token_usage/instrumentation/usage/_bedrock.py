"""AWS Bedrock Converse / ConverseStream usage (boto3's `TokenUsage` dict).

`inputTokens` is the fresh, non-cached input; `cacheReadInputTokens` and
`cacheWriteInputTokens` come on top of it, so inclusive input = all three.
`cacheDetails` (`[{"ttl": "5m" | "1h", "inputTokens": n}]`) splits the cache write by
TTL; a TTL that is neither is counted in the cache write only (with a warning). Bedrock
reports no reasoning count: a model's thinking is inside `outputTokens`.
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_token_usage._util import field

from ._model import Usage, count, exclusive, warn

__all__ = ["FIELDS", "read"]

FIELDS = (
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "cacheReadInputTokens",
    "cacheWriteInputTokens",
    "cacheDetails",
)
"""Any of these set means Bedrock's shape."""


def read(usage: object) -> Usage:
    """`Usage` of a Bedrock Converse `usage` dict (or an object with its field names)."""
    write_5m, write_1h = _ttl_split(field(usage, "cacheDetails"))
    return exclusive(
        fresh=count(usage, "inputTokens") or 0,
        cache_read=count(usage, "cacheReadInputTokens") or 0,
        cache_write=count(usage, "cacheWriteInputTokens"),
        write_5m=write_5m,
        write_1h=write_1h,
        output=count(usage, "outputTokens") or 0,
    )


def _ttl_split(details: object) -> tuple[int | None, int | None]:
    """(5m, 1h) cache writes from `cacheDetails`; (None, None) when it is absent or empty."""
    if not isinstance(details, Sequence) or isinstance(details, str) or not details:
        return None, None
    split = {"5m": 0, "1h": 0}
    for detail in details:
        ttl = field(detail, "ttl")
        tokens = count(detail, "inputTokens") or 0
        if ttl in split:
            split[str(ttl)] += tokens
        elif tokens:
            warn.warning(
                f"ttl:{ttl}",
                "Bedrock cacheDetails TTL %r is neither 5m nor 1h: its %d tokens count in "
                "the cache write only",
                ttl,
                tokens,
            )
    return split["5m"], split["1h"]
