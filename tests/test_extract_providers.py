"""The exporter's two provider rules (issue 13): upstream botocore Bedrock spans carry
exclusive input against the conventions and are read as such; deprecated provider
values become the registered names."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.util.types import AttributeValue

from otel_token_usage.export import extract_record

from .helpers import MakeSpan

# What opentelemetry-instrumentation-botocore 0.66 puts on a Converse span (observed).
UPSTREAM_BEDROCK: dict[str, AttributeValue] = {
    "rpc.system": "aws-api",
    "rpc.service": "Bedrock Runtime",
    "rpc.method": "Converse",
    "gen_ai.system": "aws.bedrock",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "gen_ai.usage.input_tokens": 3000,  # Bedrock's inputTokens: fresh input only
    "gen_ai.usage.cache_read.input_tokens": 1500,
    "gen_ai.usage.cache_creation.input_tokens": 500,
    "gen_ai.usage.output_tokens": 15,
}


def _line(make_span: MakeSpan, attrs: dict[str, AttributeValue]) -> Any:
    record = extract_record(make_span(attrs))
    assert record is not None
    return record


def test_upstream_bedrock_input_is_taken_as_fresh(make_span: MakeSpan) -> None:
    """3000 fresh + 1500 read + 500 written: the line keeps 3000 (the inclusive rule
    would have made it 1000)."""
    record = _line(make_span, UPSTREAM_BEDROCK)
    assert record.input_tokens == 3000
    assert record.cache_read_input_tokens == 1500
    assert record.cache_creation_input_tokens == 500
    assert record.provider == "aws.bedrock"


@pytest.mark.parametrize(
    "change",
    [
        {"gen_ai.provider.name": "aws.bedrock"},  # a producer of the current conventions
        {"rpc.system": "grpc"},
        {"gen_ai.system": "anthropic"},
    ],
)
def test_other_spans_keep_the_inclusive_rule(
    make_span: MakeSpan, change: dict[str, AttributeValue]
) -> None:
    """Only the upstream botocore shape is exclusive: anything else with the same counts
    is inclusive (5000 inclusive - 2000 cached = 3000 fresh)."""
    attrs = {**UPSTREAM_BEDROCK, "gen_ai.usage.input_tokens": 5000, **change}
    assert _line(make_span, attrs).input_tokens == 3000


@pytest.mark.parametrize(
    ("written", "line"),
    [
        ("gemini", "gcp.gemini"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("xai", "x_ai"),
        ("az.ai.openai", "azure.ai.openai"),
        ("gcp.gemini", "gcp.gemini"),
        ("my-provider", "my-provider"),
    ],
)
def test_deprecated_provider_values_become_registered_names(
    make_span: MakeSpan, written: str, line: str
) -> None:
    """A session mixing producers shows one name per provider (and prices it)."""
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": written,
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 1,
    }
    assert _line(make_span, attrs).provider == line
