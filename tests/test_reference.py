"""The README's attribute and metric reference is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from otel_token_usage import semconv as metrics
from otel_token_usage._reference import render

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_reference_matches_the_code() -> None:
    """Run `python -m otel_token_usage._reference README.md` when this fails."""
    assert render() in README.read_text(encoding="utf-8")


def test_reference_names_every_metric() -> None:
    """Every metric the exporter records is in the reference."""
    text = render()
    for name in (metrics.TOKEN_USAGE, *metrics.COUNTERS, metrics.COST):
        assert f"`{name}`" in text
