"""otel-token-usage: every LLM call a span with its token usage, every call a log line.

Public surface: the record (`TokenUsageRecord`, `TokenBudgetUsage`), the exporter that
writes it (`TokenUsageSpanExporter`), and `extract_record` for reading spans yourself.
"""

from __future__ import annotations

from .exporter import TokenUsageSpanExporter
from .extract import extract_record
from .record import TokenBudgetUsage, TokenUsageRecord

__all__ = ["TokenBudgetUsage", "TokenUsageRecord", "TokenUsageSpanExporter", "extract_record"]
