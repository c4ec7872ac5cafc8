"""`configure()`: the session log, token metrics and OTLP forwarding in one call, built
from the OpenTelemetry SDK's own providers, processors and OTLP exporters."""

from __future__ import annotations

from ._configure import DEFAULT_SHUTDOWN_TIMEOUT_S, TokenUsagePipeline, configure

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT_S", "TokenUsagePipeline", "configure"]
