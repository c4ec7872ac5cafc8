"""Fixture chain: span_exporter -> tracer_provider, and a real pipeline into our exporter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_token_usage import SessionSpanProcessor, TokenUsageSpanExporter

from .helpers import MakeSpan


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def make_span(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter) -> MakeSpan:
    """Build a finished span through the real SDK, with the given attributes."""

    def make(attributes: Mapping[str, AttributeValue], name: str = "chat model") -> ReadableSpan:
        tracer = tracer_provider.get_tracer("tests")
        with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            pass
        return span_exporter.get_finished_spans()[-1]

    return make


@pytest.fixture
def sessions_dir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def exporter(sessions_dir: Path) -> Iterator[TokenUsageSpanExporter]:
    exp = TokenUsageSpanExporter(sessions_dir)
    yield exp
    exp.shutdown()


@pytest.fixture
def session_tracer_provider(
    span_exporter: InMemorySpanExporter, exporter: TokenUsageSpanExporter
) -> Iterator[TracerProvider]:
    """SessionSpanProcessor, then the in-memory exporter and our exporter (synchronous)."""
    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()
