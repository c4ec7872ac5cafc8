"""One normalisation of provider usage, and the span attributes it becomes.

Every writer of LLM spans in this project (the manual `llm_call` API and the Anthropic
and OpenAI instrumentors) turns a provider's usage object into `Usage` here and writes
`Usage.attributes()`, so there is exactly one place where the providers' arithmetic
lives:

- Anthropic `input_tokens` exclude the cache: the conventions' inclusive input is
  `input + cache_read + cache_creation`. `cache_creation.ephemeral_5m/1h_input_tokens`
  split the cache write by TTL; `output_tokens_details.thinking_tokens` is the
  thinking part of `output_tokens`.
- OpenAI Chat Completions `prompt_tokens` already include
  `prompt_tokens_details.cached_tokens` (reads) and `.cache_write_tokens` (writes);
  `completion_tokens` include `completion_tokens_details.reasoning_tokens`. The
  Responses API says the same with `input_tokens`/`input_tokens_details` and
  `output_tokens`/`output_tokens_details`. OpenAI's 30-minute/12-hour split of cache
  writes has no place in the 5m/1h fields and is not kept.
- A plain mapping is read with either provider's field names.

Values that are not counts read as 0 (or "not reported"): usage never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._util import field

__all__ = ["Usage", "normalize_usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call, as billed, in the GenAI conventions' terms.

    `input_tokens` is inclusive of cache reads and writes; `output_tokens` is inclusive
    of reasoning. Optional parts are None when the provider did not report them.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    cache_write_5m_input_tokens: int | None = None
    cache_write_1h_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    def attributes(self) -> dict[str, AttributeValue]:
        """The span attributes for this usage (current names, plus the older
        `gen_ai.usage.cache_creation.input_tokens` that backends still read)."""
        attrs: dict[str, AttributeValue] = {
            a.GEN_AI_USAGE_INPUT_TOKENS: self.input_tokens,
            a.GEN_AI_USAGE_OUTPUT_TOKENS: self.output_tokens,
            a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: self.cache_read_input_tokens,
            a.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: self.cache_write_input_tokens,
            a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: self.cache_write_input_tokens,
        }
        if self.reasoning_output_tokens is not None:
            attrs[a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning_output_tokens
        if self.cache_write_5m_input_tokens is not None:
            attrs[a.TOKEN_USAGE_CACHE_WRITE_5M] = self.cache_write_5m_input_tokens
        if self.cache_write_1h_input_tokens is not None:
            attrs[a.TOKEN_USAGE_CACHE_WRITE_1H] = self.cache_write_1h_input_tokens
        return attrs


def normalize_usage(usage: object) -> Usage:
    """`Usage` from an Anthropic `Usage`/`MessageDeltaUsage`, an OpenAI `CompletionUsage`
    or `ResponseUsage`, or a mapping with any of their field names. Never raises."""
    if usage is None:
        return Usage()
    if field(usage, "prompt_tokens") is not None or field(usage, "completion_tokens") is not None:
        return _openai(
            usage, "prompt_tokens", "prompt_tokens_details", "completion_tokens",
            "completion_tokens_details",
        )  # fmt: skip
    if field(usage, "input_tokens_details") is not None:
        return _openai(
            usage, "input_tokens", "input_tokens_details", "output_tokens",
            "output_tokens_details",
        )  # fmt: skip
    return _anthropic(usage)


def _anthropic(usage: object) -> Usage:
    fresh = _count(usage, "input_tokens") or 0
    cache_read = _count(usage, "cache_read_input_tokens") or 0
    split = field(usage, "cache_creation")
    write_5m = _count(split, "ephemeral_5m_input_tokens")
    write_1h = _count(split, "ephemeral_1h_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    if cache_write is None:
        cache_write = (write_5m or 0) + (write_1h or 0)
    return Usage(
        input_tokens=fresh + cache_read + cache_write,
        output_tokens=_count(usage, "output_tokens") or 0,
        cache_read_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        cache_write_5m_input_tokens=write_5m,
        cache_write_1h_input_tokens=write_1h,
        reasoning_output_tokens=_count(field(usage, "output_tokens_details"), "thinking_tokens"),
    )


def _openai(
    usage: object, inputs: str, input_details: str, outputs: str, output_details: str
) -> Usage:
    details = field(usage, input_details)
    return Usage(
        input_tokens=_count(usage, inputs) or 0,
        output_tokens=_count(usage, outputs) or 0,
        cache_read_input_tokens=_count(details, "cached_tokens") or 0,
        cache_write_input_tokens=_count(details, "cache_write_tokens") or 0,
        reasoning_output_tokens=_count(field(usage, output_details), "reasoning_tokens"),
    )


def _count(obj: object, name: str) -> int | None:
    value = field(obj, name)
    if type(value) is int and value >= 0:
        return value
    return None
