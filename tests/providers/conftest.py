"""Fixtures of the provider tests: the fake, and a pipeline into the in-memory exporter
and the session-log exporter (synchronous: a line exists as soon as its span ends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_token_usage.testing import FakeClock, FakeProvider

from .helpers import Out


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(clock=FakeClock()) as provider:
        yield provider


@pytest.fixture
def pipeline(session_tracer_provider: TracerProvider) -> TracerProvider:
    """The shared pipeline: SessionSpanProcessor, the in-memory exporter, our exporter."""
    return session_tracer_provider


@pytest.fixture
def out(pipeline: TracerProvider, span_exporter: InMemorySpanExporter, sessions_dir: Path) -> Out:
    return Out(span_exporter, sessions_dir)
