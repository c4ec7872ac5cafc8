"""OpenAI usage, and the OpenAI-compatible providers' variants of it.

Chat Completions (`CompletionUsage`): `prompt_tokens` already include
`prompt_tokens_details.cached_tokens` (reads) and `.cache_write_tokens` (writes);
`completion_tokens` include `completion_tokens_details.reasoning_tokens`. The providers
that answer in this shape differ as follows:

- DeepSeek: `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` = `prompt_tokens`, at
  the top level of `usage`; the hits are the cache reads (`prompt_tokens_details.
  cached_tokens`, when also sent, says the same). No cache writes are reported (its disk
  cache is written for free).
- xAI: `completion_tokens` do **not** include `reasoning_tokens`
  (`total_tokens = prompt + completion + reasoning`), and both are billed as output. The
  output is `completion + reasoning` when the provider is `x_ai` (or `xai`), or when the
  usage's own `total_tokens` shows the reasoning was counted apart.
- Azure OpenAI, Mistral, Groq: OpenAI's shape (`cached_tokens`; none reports writes).

Responses (`ResponseUsage`): the same with `input_tokens` / `input_tokens_details` and
`output_tokens` / `output_tokens_details`. Its cache-write TTL split
(`cache_write_tokens_details.ttl_30m_tokens` / `ttl_12h_tokens`) fits neither the 5m nor
the 1h field: the total is the cache write, and the split is kept on the span as
`token_usage.cache_write.30m/12h.input_tokens` (the session log carries the total only).
"""

from __future__ import annotations

from otel_token_usage import semconv as a
from otel_token_usage._util import field

from ._model import Usage, count

__all__ = ["CHAT_FIELDS", "RESPONSES_FIELDS", "read_chat", "read_responses"]

CHAT_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "prompt_cache_hit_tokens",
    "prompt_cache_miss_tokens",
)
"""Any of these set means Chat Completions' shape (or a compatible provider's)."""

RESPONSES_FIELDS = ("input_tokens_details",)
"""Set on every Responses usage, never on Anthropic's (which shares `input_tokens`)."""

_REASONING_APART = frozenset({a.PROVIDER_XAI, "xai"})


def read_chat(usage: object, provider: str | None = None) -> Usage:
    """`Usage` of a Chat Completions usage of OpenAI or a compatible provider."""
    details = field(usage, "prompt_tokens_details")
    hits = count(usage, "prompt_cache_hit_tokens")
    misses = count(usage, "prompt_cache_miss_tokens")
    prompt = count(usage, "prompt_tokens")
    if prompt is None:
        prompt = (hits or 0) + (misses or 0)
    cache_read = hits if hits is not None else count(details, "cached_tokens") or 0
    completion = count(usage, "completion_tokens") or 0
    reasoning = count(field(usage, "completion_tokens_details"), "reasoning_tokens")
    output = completion
    if reasoning and _reasoning_apart(usage, provider, prompt, completion, reasoning):
        output += reasoning
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        cache_read_input_tokens=cache_read,
        cache_write_input_tokens=count(details, "cache_write_tokens") or 0,
        reasoning_output_tokens=reasoning,
    )


def _reasoning_apart(
    usage: object, provider: str | None, prompt: int, completion: int, reasoning: int
) -> bool:
    """Whether `reasoning_tokens` are outside `completion_tokens` (xAI's way)."""
    if provider in _REASONING_APART:
        return True
    total = count(usage, "total_tokens")
    return total is not None and total == prompt + completion + reasoning


def read_responses(usage: object) -> Usage:
    """`Usage` of a Responses API usage."""
    details = field(usage, "input_tokens_details")
    ttl = field(details, "cache_write_tokens_details")
    write_30m = count(ttl, "ttl_30m_tokens")
    write_12h = count(ttl, "ttl_12h_tokens")
    cache_write = count(details, "cache_write_tokens")
    if cache_write is None:
        cache_write = (write_30m or 0) + (write_12h or 0)
    return Usage(
        input_tokens=count(usage, "input_tokens") or 0,
        output_tokens=count(usage, "output_tokens") or 0,
        cache_read_input_tokens=count(details, "cached_tokens") or 0,
        cache_write_input_tokens=cache_write,
        reasoning_output_tokens=count(field(usage, "output_tokens_details"), "reasoning_tokens"),
        cache_write_30m_input_tokens=write_30m,
        cache_write_12h_input_tokens=write_12h,
    )
