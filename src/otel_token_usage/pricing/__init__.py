"""Model prices for the cost metric (writing side) and the cost reports (reading side):
`genai-prices`' bundled data, offline, overridden by a user's price file."""

from __future__ import annotations

from ._prices import Price, PriceBook, PriceFileError, Rates

__all__ = ["Price", "PriceBook", "PriceFileError", "Rates"]
