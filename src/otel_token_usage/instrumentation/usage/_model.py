"""`Usage`, the one normalised form of a call's token usage, and how its fields are read.

The provider readers (`_anthropic`, `_openai`, `_gemini`, `_bedrock`) all read counts
through `count()`, so a value that is not a token count is treated the same way for every
provider: not reported, with a throttled warning naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._util import ThrottledLogger, field

__all__ = ["Usage", "count", "exclusive", "fields_seen", "present", "warn"]

_log = logging.getLogger("otel_token_usage.instrumentation.usage")
warn = ThrottledLogger(_log)
"""The usage readers' throttled logger (one per process, keyed per message kind)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one call, as billed, in the GenAI conventions' terms.

    `input_tokens` is inclusive of cache reads and writes; `output_tokens` is inclusive
    of reasoning. Optional parts are None when the provider did not report them. The
    cache-write TTL split is kept as reported: 5m / 1h (Anthropic, Bedrock), 30m / 12h
    (OpenAI Responses; those two go on the span only, see `attributes`).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    cache_write_5m_input_tokens: int | None = None
    cache_write_1h_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    cache_write_30m_input_tokens: int | None = None
    cache_write_12h_input_tokens: int | None = None

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
        optional = (
            (a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, self.reasoning_output_tokens),
            (a.TOKEN_USAGE_CACHE_WRITE_5M, self.cache_write_5m_input_tokens),
            (a.TOKEN_USAGE_CACHE_WRITE_1H, self.cache_write_1h_input_tokens),
            (a.TOKEN_USAGE_CACHE_WRITE_30M, self.cache_write_30m_input_tokens),
            (a.TOKEN_USAGE_CACHE_WRITE_12H, self.cache_write_12h_input_tokens),
        )
        attrs.update((name, value) for name, value in optional if value is not None)
        return attrs


def count(obj: object, *names: str) -> int | None:
    """The first of `names` present on `obj` (a usage object or mapping) as a token
    count; None when none is present. A present value that is not an int >= 0 counts as
    not reported, with a throttled warning naming the field."""
    for name in names:
        value = field(obj, name)
        if value is None:
            continue
        if type(value) is int and value >= 0:
            return value
        warn.warning(
            f"value:{name}", "usage field %s=%r is not a token count; ignored", name, value
        )
    return None


def present(obj: object, names: tuple[str, ...]) -> bool:
    """Whether any of `names` is set (not None) on `obj`."""
    return any(field(obj, name) is not None for name in names)


def fields_seen(obj: object) -> list[str]:
    """The field names a usage object or mapping carries, for a warning (sorted, at most
    30): a mapping's keys, a pydantic model's set fields, else its public attributes."""
    if isinstance(obj, Mapping):
        names = [str(key) for key in obj]
    else:
        fields_set = getattr(obj, "model_fields_set", None)
        if isinstance(fields_set, set | frozenset):
            names = [str(name) for name in fields_set]
        else:
            names = [n for n in getattr(obj, "__dict__", {}) if not n.startswith("_")]
    return sorted(names)[:30]


def exclusive(
    *,
    fresh: int,
    cache_read: int,
    cache_write: int | None,
    write_5m: int | None,
    write_1h: int | None,
    output: int,
    reasoning: int | None = None,
) -> Usage:
    """`Usage` of a provider whose input count excludes the cache (Anthropic, Bedrock):
    the conventions' input is fresh + read + write. A cache write not reported as a
    total is the sum of its TTL split."""
    if cache_write is None:
        cache_write = (write_5m or 0) + (write_1h or 0)
    return Usage(
        input_tokens=fresh + cache_read + cache_write,
        output_tokens=output,
        cache_read_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        cache_write_5m_input_tokens=write_5m,
        cache_write_1h_input_tokens=write_1h,
        reasoning_output_tokens=reasoning,
    )
