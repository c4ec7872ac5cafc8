"""otel-token-usage: every LLM call a span with its token usage, every call a log line.

Public surface: the record (`TokenUsageRecord`, `TokenBudgetUsage`), the exporter that
writes it (`TokenUsageSpanExporter`, behind `TokenUsageSpanProcessor`, with
`TokenUsageSampler` so trace sampling costs no line), and `extract_record` for reading
spans yourself;
the session context (`session`, `current_session`, stamped onto LLM spans by
`SessionSpanProcessor`) and
`llm_call` for calls no instrumentor covers; `configure()` for the whole pipeline (session
log, token metrics, OTLP forwarding) in one call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._session import ActiveSession, current_session, session
    from .export import (
        SessionSpanProcessor,
        TokenUsageSampler,
        TokenUsageSpanExporter,
        TokenUsageSpanProcessor,
        extract_record,
    )
    from .instrumentation._manual import llm_call
    from .pipeline import TokenUsagePipeline, configure
    from .record import TokenBudgetUsage, TokenUsageRecord

# Public name -> the module that defines it. Imported on first use, so that the
# `token-usage` command does not pay for the OpenTelemetry SDK and the OTLP exporters,
# and `session` does not pay for pydantic.
_WHERE = {
    "SessionSpanProcessor": ".export",
    "TokenBudgetUsage": ".record",
    "TokenUsagePipeline": ".pipeline",
    "TokenUsageRecord": ".record",
    "TokenUsageSampler": ".export",
    "TokenUsageSpanExporter": ".export",
    "TokenUsageSpanProcessor": ".export",
    "configure": ".pipeline",
    "extract_record": ".export",
    "llm_call": ".instrumentation._manual",
    "session": "._session",
    "current_session": "._session",
    "ActiveSession": "._session",
}

__all__ = [
    "ActiveSession",
    "SessionSpanProcessor",
    "TokenBudgetUsage",
    "TokenUsagePipeline",
    "TokenUsageRecord",
    "TokenUsageSampler",
    "TokenUsageSpanExporter",
    "TokenUsageSpanProcessor",
    "configure",
    "current_session",
    "extract_record",
    "llm_call",
    "session",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
