"""The writing side: finished spans -> records -> lines in each session's log -> metrics.

- `TokenUsageSpanExporter` (behind a `BatchSpanProcessor`): extracts each LLM call's
  record (`extract_record`, `record_line`), appends it to its session's log through
  `SessionLogWriter`, and records token metrics (`TokenMetrics`).
- `SessionSpanProcessor`: gives the current `session()` to the LLM spans started in it.
- `TokenUsageSampler` + `TokenUsageSpanProcessor`: every LLM call a line whatever the
  trace sampling (the sampler records dropped LLM spans, the processor exports them).
- `call_key`: what identifies one call across its spans (session + response id).
- `ExporterSettings`: keyword argument > `OTEL_TOKEN_USAGE_*` variable > default.

Nothing here imports the reading side (`analysis`, `ingest`, `cli`).
"""

from __future__ import annotations

from ._exporter import TokenUsageSpanExporter
from ._extract import extract_line, extract_record, record_line, span_attributes
from ._merge import call_key
from ._metrics import TokenMetrics
from ._processor import TokenUsageSpanProcessor
from ._sampling import TokenUsageSampler
from ._session_processor import SessionSpanProcessor
from ._settings import ENV_PREFIX, ExporterSettings, LineFormat
from ._storage import SessionLogWriter

__all__ = [
    "ENV_PREFIX",
    "ExporterSettings",
    "LineFormat",
    "SessionLogWriter",
    "SessionSpanProcessor",
    "TokenMetrics",
    "TokenUsageSampler",
    "TokenUsageSpanExporter",
    "TokenUsageSpanProcessor",
    "call_key",
    "extract_line",
    "extract_record",
    "record_line",
    "span_attributes",
]
