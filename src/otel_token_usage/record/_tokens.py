"""The token kinds of a call, defined once: `TokenCounts`.

Every place that reads, sums, prices, reports or records tokens by kind (the log reader,
the fold, the report's summaries, the prices, the token metrics) takes its list of kinds
from here, so adding a kind is one edit: a field below, named as the record's field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from ._line import EXTENSION_FIELDS, SEED_FIELDS

__all__ = ["PROMPT_KINDS", "TOKEN_KINDS", "TokenCounts"]


def _kind(label: str) -> Any:
    return field(default=0, metadata={"label": label})


@dataclass(slots=True)
class TokenCounts:
    """Tokens by kind, of one call or summed over many. Non-negative ints, never bounded:
    a sum may pass any fixed width and stays exact.

    Each attribute is named as the record field it is read from (`of`); the label is a
    short column heading for tables.
    """

    input_tokens: int = _kind("input")
    """Fresh input: not read from the cache and not written to it."""
    cache_read_input_tokens: int = _kind("cache read")
    """Input read from the prompt cache."""
    cache_creation_input_tokens: int = _kind("cache write")
    """Input written to the prompt cache, every TTL."""
    cache_creation_1h_input_tokens: int = _kind("write 1h")
    """The part of the cache writes with a 1-hour TTL (0 where the line does not say)."""
    output_tokens: int = _kind("output")
    """Output, thinking included (as billed)."""
    thinking_tokens: int = _kind("thinking")
    """The thinking (reasoning) part of the output."""

    @classmethod
    def of(cls, source: Any) -> TokenCounts:
        """The counts of an object with the record's field names as attributes (a log
        line, a `RecordLine`); an absent (None) count is 0."""
        return cls(*[value or 0 for value in _READ(source)])

    def add(self, other: TokenCounts) -> None:
        """Add `other`'s counts into these."""
        for name in TOKEN_KINDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __add__(self, other: TokenCounts) -> TokenCounts:
        total = TokenCounts(*_READ(self))
        total.add(other)
        return total

    @property
    def cache_creation_5m_input_tokens(self) -> int:
        """The cache writes not known to have a 1-hour TTL: billed as 5-minute writes."""
        return self.cache_creation_input_tokens - min(
            self.cache_creation_1h_input_tokens, self.cache_creation_input_tokens
        )

    @property
    def prompt_tokens(self) -> int:
        """The whole prompt: the sum of the `PROMPT_KINDS` (fresh input, cache reads,
        cache writes)."""
        return sum(_READ_PROMPT(self))

    @property
    def total_tokens(self) -> int:
        """Prompt and output (thinking is part of the output)."""
        return self.prompt_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        """Every kind by its record field name, then the derived 5-minute writes and
        prompt size."""
        counts = dict(zip(TOKEN_KINDS, _READ(self), strict=True))
        counts["cache_creation_5m_input_tokens"] = self.cache_creation_5m_input_tokens
        counts["prompt_tokens"] = self.prompt_tokens
        return counts

    @staticmethod
    def labels() -> dict[str, str]:
        """Kind -> short column heading."""
        return {item.name: item.metadata["label"] for item in fields(TokenCounts)}


TOKEN_KINDS: tuple[str, ...] = tuple(item.name for item in fields(TokenCounts))
"""The kinds, in declaration order; each is a record field name."""
PROMPT_KINDS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
"""The disjoint kinds that make up the prompt."""
_READ = attrgetter(*TOKEN_KINDS)
_READ_PROMPT = attrgetter(*PROMPT_KINDS)

if (
    not set(PROMPT_KINDS) <= set(TOKEN_KINDS) <= {*SEED_FIELDS, *EXTENSION_FIELDS}
):  # a rename fails at import
    raise RuntimeError("TokenCounts names a field the record does not have")
