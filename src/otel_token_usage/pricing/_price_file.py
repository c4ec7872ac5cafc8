"""A user's price file (TOML or JSON, the format is in `_prices`' docstring), read into
`PriceEntry`s.

pydantic checks the file; this module is imported only when a price file is given, so
`token-usage` starts without pydantic otherwise.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._prices import PriceFileError

__all__ = ["PriceEntry", "read_price_file"]

_Amount = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class PriceEntry(BaseModel):
    """One entry of a price file: which model (a trailing `*` matches any suffix) of which
    provider (any if None) it prices, and its prices in USD per million tokens, each a
    non-negative amount or a base amount with tiers by prompt size."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    provider: str | None = None
    input_mtok: _Amount | _TierSpec
    output_mtok: _Amount | _TierSpec
    cache_read_mtok: _Amount | _TierSpec | None = None
    cache_write_mtok: _Amount | _TierSpec | None = None
    cache_write_1h_mtok: _Amount | _TierSpec | None = None

    def matches(self, provider: str, model: str) -> bool:
        """Whether this entry prices `model` of `provider` (case-insensitive)."""
        if self.provider is not None and self.provider.lower() != provider.lower():
            return False
        return fnmatch.fnmatchcase(model.lower(), self.model.lower())

    def prices(self) -> dict[str, Any]:
        """The prices that are set, by key (`input_mtok`, ...): a `Decimal`, or a dict
        `{"base": Decimal, "tiers": [{"start": int, "price": Decimal}, ...]}`."""
        return {
            name: value
            for name, value in self.model_dump(exclude={"model", "provider"}).items()
            if value is not None
        }


class _TierStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=0)
    price: _Amount


class _TierSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base: _Amount
    tiers: list[_TierStep]


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[PriceEntry]


PriceEntry.model_rebuild()


def read_price_file(path: Path) -> tuple[PriceEntry, ...]:
    """The entries of a TOML (or, by its `.json` suffix, JSON) price file, in file order.
    Raises `PriceFileError` with a one-line reason if the file is unreadable or wrong."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise PriceFileError(f"{path}: {error.strerror or error}") from None
    try:
        raw: Any = (
            json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text.decode())
        )
        parsed = _PriceFile.model_validate(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise PriceFileError(f"{path}: not a valid price file: {_one_line(error)}") from None
    return tuple(parsed.models)


def _one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return " ".join(str(error).split())
