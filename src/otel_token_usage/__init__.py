"""otel-token-usage: every LLM call a span with its token usage, every call a log line.

Public surface: the record (`TokenUsageRecord`, `TokenBudgetUsage`), the exporter that
writes it (`TokenUsageSpanExporter`), and `extract_record` for reading spans yourself;
the session context (`session`, stamped onto LLM spans by `SessionSpanProcessor`) and
`llm_call` for calls no instrumentor covers; `configure()` for the whole pipeline (session
log, token metrics, OTLP forwarding) in one call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exporter import TokenUsageSpanExporter
    from .extract import extract_record
    from .instrumentation._manual import llm_call
    from .pipeline import TokenUsagePipeline, configure
    from .record import TokenBudgetUsage, TokenUsageRecord
    from .session_context import SessionSpanProcessor, session

# Public name -> the module that defines it. Imported on first use, so that the
# `token-usage` command and `import otel_token_usage.record` do not pay for the
# OpenTelemetry SDK and the OTLP exporters they never touch.
_WHERE = {
    "SessionSpanProcessor": ".session_context",
    "TokenBudgetUsage": ".record",
    "TokenUsagePipeline": ".pipeline",
    "TokenUsageRecord": ".record",
    "TokenUsageSpanExporter": ".exporter",
    "configure": ".pipeline",
    "extract_record": ".extract",
    "llm_call": ".instrumentation._manual",
    "session": ".session_context",
}

__all__ = [
    "SessionSpanProcessor",
    "TokenBudgetUsage",
    "TokenUsagePipeline",
    "TokenUsageRecord",
    "TokenUsageSpanExporter",
    "configure",
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
