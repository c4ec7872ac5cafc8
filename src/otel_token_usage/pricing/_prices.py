"""Model prices: the `genai-prices` library's bundled data, overridden by a user price file.

Only the price data shipped inside the installed `genai-prices` is used: its background
updater (which would fetch prices over the network) is never started, so the analysis
works offline and gives the same numbers on every run with the same library version.

The arithmetic is the library's own (`ModelPrice.calc_price`). Prices can depend on the
prompt size (tiers, e.g. above 200k input tokens) and on the date; the callers group token
sums by UTC day and tier, which keeps every price linear inside a group, and each group is
priced exactly. Prices that vary by time of day (off-peak discounts) are taken at noon UTC.

Price file (TOML or JSON, prices in USD per million tokens)::

    [[models]]
    model = "claude-opus-4-8"   # case-insensitive; a trailing * matches any suffix
    provider = "anthropic"       # optional: match this provider only
    input_mtok = 5
    output_mtok = 25
    cache_read_mtok = 0.5        # optional; missing cache prices bill as input
    cache_write_mtok = 6.25      # 5-minute cache writes (and all writes if no 1h price)
    cache_write_1h_mtok = 10     # optional: 1-hour cache writes
    # a price may be tiered by prompt size:
    # input_mtok = { base = 3, tiers = [{ start = 200000, price = 6 }] }

The JSON form is `{"models": [{...}, ...]}` with the same keys. Entries are tried in file
order, before the library's data.

Lines name their provider as the GenAI conventions do (`gcp.gemini`, `aws.bedrock`,
`x_ai`, ...); `_providers` maps those names, and Gemini resource paths, to what the
library knows.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from genai_prices.types import ModelPrice, TieredPrices

    from ._price_file import PriceEntry

from otel_token_usage._util import UserError
from otel_token_usage.record import TokenCounts

from ._providers import model_ref, provider_id

__all__ = ["Price", "PriceBook", "PriceFileError", "Rates"]

_MILLION = Decimal(1_000_000)
_REQUESTS_KEY = "requests_kcount"


class PriceFileError(UserError, ValueError):
    """A price file that cannot be read or is not valid; the message says which and why."""


class Rates(NamedTuple):
    """Effective USD per million tokens of each kind, as `genai-prices` bills them (a kind
    the model has no own price for is billed at the price that then applies, e.g. cache
    reads as input)."""

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal


@dataclass(frozen=True)
class Price:
    """The price of one model on one day: its prompt-size tier boundaries and the `Rates`
    of each tier. `source` says where it came from (`genai-prices` or `price file`)."""

    model_id: str
    source: str
    thresholds: tuple[int, ...]
    tiers: tuple[Rates, ...]
    per_request: Decimal = Decimal(0)

    def tier_of(self, prompt_tokens: int) -> int:
        """The tier a call with this prompt size falls in (0 = base price)."""
        return bisect_left(self.thresholds, prompt_tokens)

    def cost(self, tier: int, tokens: TokenCounts, calls: int) -> Decimal:
        """USD for `calls` calls with these summed `tokens`, all in `tier`: cache reads at
        the read price, 1-hour and 5-minute cache writes each at their own price, thinking
        billed as output."""
        rates = self.tiers[tier]
        amount = (
            tokens.input_tokens * rates.input
            + tokens.cache_read_input_tokens * rates.cache_read
            + tokens.cache_creation_5m_input_tokens * rates.cache_write_5m
            + (tokens.cache_creation_input_tokens - tokens.cache_creation_5m_input_tokens)
            * rates.cache_write_1h
            + tokens.output_tokens * rates.output
        )
        return amount / _MILLION + self.per_request * calls / 1000

    def no_cache_cost(self, tier: int, tokens: TokenCounts, calls: int) -> Decimal:
        """USD for the same calls had every prompt token been billed as fresh input."""
        rates = self.tiers[tier]
        amount = tokens.prompt_tokens * rates.input + tokens.output_tokens * rates.output
        return amount / _MILLION + self.per_request * calls / 1000


@dataclass
class PriceBook:
    """Finds the `Price` of a provider's model on a UTC day: first in the user's entries,
    then in `genai-prices`' bundled data. Never touches the network. Lookups are cached;
    models without a price are remembered in `unknown` as (provider, model).

    `genai-prices` (a tenth of a second to import) is loaded on the first lookup, not
    before."""

    entries: tuple[PriceEntry, ...] = ()
    unknown: set[tuple[str, str]] = field(default_factory=set)
    _cache: dict[tuple[str, str, str], Price | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceBook:
        """A book with the entries of a TOML or JSON price file (see the module docstring).
        Raises `PriceFileError` with a one-line reason if the file is unreadable or wrong."""
        from ._price_file import read_price_file  # noqa: PLC0415 - pydantic, only for files

        return cls(entries=read_price_file(Path(path)))

    def price(self, provider: str, model: str, day: str) -> Price | None:
        """The price in force on `day` (`YYYY-MM-DD`, UTC), or None if no source knows it."""
        key = (provider, model, day)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(provider, model, day)
        self._cache[key] = found
        if found is None:
            self.unknown.add((provider, model))
        return found

    def preload(self) -> None:
        """Load the bundled price data now (worker processes forked after this share it
        instead of each loading it again)."""
        from genai_prices import data_snapshot  # noqa: PLC0415 - see the class docstring

        data_snapshot.get_snapshot()

    def thresholds(self, provider: str, model: str, day: str) -> tuple[int, ...]:
        """Prompt sizes at which the price changes (empty: one tier or no price)."""
        found = self.price(provider, model, day)
        return found.thresholds if found is not None else ()

    def _lookup(self, provider: str, model: str, day: str) -> Price | None:
        from genai_prices import data_snapshot  # noqa: PLC0415 - see the class docstring
        from genai_prices.types import ModelPrice  # noqa: PLC0415

        for entry in self.entries:
            if entry.matches(provider, model):
                values = {name: _to_library(value) for name, value in entry.prices().items()}
                return _flatten(entry.model, "price file", ModelPrice(**values))
        snapshot = data_snapshot.get_snapshot()
        found = None
        for known_as in (provider_id(provider), None):
            try:
                found = snapshot.find_provider_model(model_ref(model), None, known_as, None)
                break
            except LookupError:
                continue
        if found is None:
            return None
        _provider, info = found
        try:
            when = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        except ValueError:
            return None  # the calls' `ts` holds no date: no dated price applies
        return _flatten(info.id, "genai-prices", info.get_prices(when))

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the entries only; each rebuilds its own small cache.
        return {"entries": self.entries, "unknown": set(), "_cache": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _to_library(value: Any) -> Decimal | TieredPrices:
    from genai_prices.types import Tier, TieredPrices  # noqa: PLC0415

    if isinstance(value, dict):
        steps = [Tier(start=step["start"], price=step["price"]) for step in value["tiers"]]
        return TieredPrices(base=value["base"], tiers=steps)
    return Decimal(value)


def _flatten(model_id: str, source: str, price: ModelPrice) -> Price:
    from genai_prices.types import ModelPrice, TieredPrices  # noqa: PLC0415

    values = {k: v for k, v in vars(price).items() if not k.startswith("_") and v is not None}
    per_request = values.pop(_REQUESTS_KEY, Decimal(0))
    if isinstance(per_request, TieredPrices):
        per_request = per_request.base
    starts = sorted(
        {tier.start for v in values.values() if isinstance(v, TieredPrices) for tier in v.tiers}
    )
    # A tier is chosen when the prompt is strictly above its start, as the library does.
    representatives = [0, *(start + 1 for start in starts)]
    tiers = tuple(
        _probe(ModelPrice(**{k: _at(v, prompt) for k, v in values.items()}))
        for prompt in representatives
    )
    return Price(model_id, source, tuple(starts), tiers, per_request)


def _probe(price: ModelPrice) -> Rates:
    # The library's billing is linear in the token kinds, so pricing a million tokens of
    # each kind on its own gives exact per-kind rates, fallbacks included.
    from genai_prices import Usage  # noqa: PLC0415

    def bill(**usage: int) -> Decimal:
        return price.calc_price(Usage(**usage))["total_price"]

    m = 1_000_000
    return Rates(
        input=bill(input_tokens=m),
        cache_read=bill(input_tokens=m, cache_read_tokens=m),
        cache_write_5m=bill(input_tokens=m, cache_write_tokens=m),
        cache_write_1h=bill(input_tokens=m, cache_write_tokens=m, cache_write_1h_tokens=m),
        output=bill(output_tokens=m),
    )


def _at(value: Decimal | TieredPrices, prompt_tokens: int) -> Decimal:
    from genai_prices.types import TieredPrices  # noqa: PLC0415

    if not isinstance(value, TieredPrices):
        return value
    chosen = value.base
    for tier in value.tiers:
        if prompt_tokens > tier.start:
            chosen = tier.price
    return chosen
