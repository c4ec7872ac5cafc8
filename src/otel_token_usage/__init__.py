"""otel-token-usage: every LLM call a span with its token usage, every call a log line.

Public surface: the record (`TokenUsageRecord`, `TokenBudgetUsage`), the exporter that
writes it (`TokenUsageSpanExporter`), and `extract_record` for reading spans yourself;
the session context (`session`, stamped onto LLM spans by `SessionSpanProcessor`) and
`llm_call` for calls no instrumentor covers; `configure()` for the whole pipeline (session
log, token metrics, OTLP forwarding) in one call.
"""

from __future__ import annotations

from .configure import TokenUsagePipeline, configure
from .exporter import TokenUsageSpanExporter
from .extract import extract_record
from .instrumentation._manual import llm_call
from .record import TokenBudgetUsage, TokenUsageRecord
from .session import SessionSpanProcessor, session

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
