"""What the provider tests share: where they read spans and lines, and the line each
provider's fake answer bills, computed here from the API's own usage by the provider's
documented rules (independently of `normalize_usage`), and checked against the fake's
simulated cache split."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_token_usage.record import LOG_FILE_NAME, session_dir_name
from otel_token_usage.semconv import DEFAULT_FALLBACK_SESSION
from otel_token_usage.testing import RecordedResponse

LINE_COUNTS = (
    "input_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "thinking_tokens",
)


@dataclass(frozen=True)
class Out:
    """Where a test reads what the instrumentation produced."""

    exporter: InMemorySpanExporter
    sessions_dir: Path

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def lines(self, session_id: str = DEFAULT_FALLBACK_SESSION) -> list[dict[str, Any]]:
        path = self.sessions_dir / session_dir_name(session_id) / LOG_FILE_NAME
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def billed(sent: RecordedResponse) -> dict[str, Any]:
    """The line fields (counts, TTL split, provider, model) the fake's answer bills."""
    usage = sent.usage
    assert usage is not None, "the fake sent no usage"
    if sent.api == "gemini.generate_content":
        counts = _gemini(usage)
    elif sent.api == "bedrock.converse":
        counts = _bedrock(usage)
    else:
        counts = _chat(usage, sent.provider)
    return {**counts, "provider": sent.provider, "model": sent.model}


def _gemini(usage: Mapping[str, Any]) -> dict[str, Any]:
    # prompt includes the cached tokens; tool-use prompt is input apart from it;
    # thoughts are output apart from the candidates.
    cached = usage.get("cachedContentTokenCount", 0)
    thoughts = usage.get("thoughtsTokenCount", 0)
    return {
        "input_tokens": usage["promptTokenCount"]
        + usage.get("toolUsePromptTokenCount", 0)
        - cached,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
        "output_tokens": usage.get("candidatesTokenCount", 0) + thoughts,
        "thinking_tokens": thoughts,
    }


def _bedrock(usage: Mapping[str, Any]) -> dict[str, Any]:
    # inputTokens is already the fresh input; thinking is inside outputTokens.
    counts: dict[str, Any] = {
        "input_tokens": usage["inputTokens"],
        "cache_read_input_tokens": usage.get("cacheReadInputTokens", 0),
        "cache_creation_input_tokens": usage.get("cacheWriteInputTokens", 0),
        "output_tokens": usage["outputTokens"],
        "thinking_tokens": 0,
    }
    details = {d["ttl"]: d["inputTokens"] for d in usage.get("cacheDetails", ())}
    if details:
        counts["cache_creation_5m_input_tokens"] = details.get("5m", 0)
        counts["cache_creation_1h_input_tokens"] = details.get("1h", 0)
    return counts


def _chat(usage: Mapping[str, Any], provider: str) -> dict[str, Any]:
    prompt = usage["prompt_tokens"]
    completion = usage["completion_tokens"]
    reasoning = usage.get("completion_tokens_details", {}).get("reasoning_tokens", 0)
    if "prompt_cache_hit_tokens" in usage:  # DeepSeek
        read, fresh = usage["prompt_cache_hit_tokens"], usage["prompt_cache_miss_tokens"]
    else:
        read = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
        fresh = prompt - read
    # xAI leaves reasoning out of completion_tokens; everyone else counts it in.
    output = completion + reasoning if provider == "x_ai" else completion
    return {
        "input_tokens": fresh,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": 0,
        "output_tokens": output,
        "thinking_tokens": reasoning,
    }


def check_line(line: Mapping[str, Any], sent: RecordedResponse) -> None:
    """The session-log line is exactly what the fake billed for this request, and agrees
    with the fake's simulated cache split."""
    expected = billed(sent)
    got = {key: line.get(key) for key in expected}
    assert got == expected
    cache = sent.cache
    assert cache is not None
    assert line["cache_read_input_tokens"] == cache.read
    assert line["cache_creation_input_tokens"] == cache.write
    if sent.api == "bedrock.converse" or sent.usage is None:
        return
    tool_use = (sent.usage or {}).get("toolUsePromptTokenCount", 0)
    assert line["input_tokens"] == cache.uncached + tool_use


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a plain dict."""
    return dict(span.attributes or {})


def usage_attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's gen_ai.usage.* and token_usage.cache_write.* attributes."""
    return {
        key: value
        for key, value in (span.attributes or {}).items()
        if key.startswith(("gen_ai.usage.", "token_usage.cache_write."))
    }


def bedrock(endpoint: str) -> Any:
    """A real client; explicit dummy credentials (nothing looks for real ones), no
    retries (so an injected error is one request)."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )
