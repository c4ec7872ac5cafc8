"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AttributeValue


class MakeSpan(Protocol):
    def __call__(
        self, attributes: Mapping[str, AttributeValue], name: str = "chat model"
    ) -> ReadableSpan: ...


def chat_attributes(**overrides: AttributeValue) -> dict[str, AttributeValue]:
    """Attributes of a typical instrumented Anthropic chat span (inclusive input)."""
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-opus-4-8",
        "gen_ai.response.model": "claude-opus-4-8",
        "gen_ai.conversation.id": "sess-1",
        "gen_ai.usage.input_tokens": 14_300,
        "gen_ai.usage.cache_read.input_tokens": 12_000,
        "gen_ai.usage.cache_write.input_tokens": 1_500,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.reasoning.output_tokens": 7,
    }
    attrs.update(overrides)
    return attrs


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
