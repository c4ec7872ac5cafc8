"""The package's public names: each resolves, lazily, to the object it names."""

from __future__ import annotations

import subprocess
import sys

import otel_token_usage


def test_every_public_name_resolves() -> None:
    """Every name in __all__ is importable from the package, and nothing else is listed."""
    for name in otel_token_usage.__all__:
        assert getattr(otel_token_usage, name).__name__ == name
    assert sorted(otel_token_usage.__all__) == sorted(otel_token_usage._WHERE)


def test_reading_logs_does_not_load_the_sdk_exporters() -> None:
    """`import otel_token_usage.record` (what readers of logs need) loads no OTLP exporter."""
    code = (
        "import sys, otel_token_usage.record\n"
        "print(any(m.startswith('opentelemetry.exporter') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
