"""`TokenUsageConfigurator`: the `token_usage` entry point of `opentelemetry_configurator`
(see `_zero_code` for what it adds and why a configurator). Its own module because it
extends opentelemetry-distro's configurator, which only the `zero-code` extra installs:
the post-instrument hook in `_zero_code` must load without it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.trace import TracerProvider

from otel_token_usage.export import (
    TokenUsageSampler,
    TokenUsageSpanExporter,
    TokenUsageSpanProcessor,
)
from otel_token_usage.export._metrics import flush_before_metrics_at_exit
from otel_token_usage.export._sampling import warn_if_lines_follow_sampling

from ._zero_code import (
    EXPORTER_NAME,
    add_session_processor,
    exporters_without_token_usage,
    lists_token_usage,
)

try:
    from opentelemetry.distro import OpenTelemetryConfigurator
except ImportError as exc:  # pragma: no cover - the zero-code extra is not installed
    raise ImportError(
        "the token_usage configurator extends opentelemetry-distro's: "
        "pip install 'otel-token-usage[zero-code]'"
    ) from exc

__all__ = ["TokenUsageConfigurator"]

_log = logging.getLogger(__name__)


class TokenUsageConfigurator(OpenTelemetryConfigurator):
    """The SDK's configuration from the environment, with the session log taking every LLM
    call whatever the trace sampling, and `session()` stamped onto any producer's spans.
    See the module docstring."""

    def configure(self, **kwargs: Any) -> None:
        """Run the SDK's configuration, then add our processors to its tracer provider."""
        wanted = lists_token_usage(os.environ.get(OTEL_TRACES_EXPORTER, "")) or any(
            name.strip() == EXPORTER_NAME for name in kwargs.get("trace_exporter_names") or ()
        )
        if wanted:
            # The SDK must not build its own BatchSpanProcessor around our exporter: it
            # passes on only sampled spans. We add the exporter ourselves, below.
            kwargs["sampler"] = TokenUsageSampler(kwargs.get("sampler"))
            kwargs["trace_exporter_names"] = [
                name
                for name in kwargs.get("trace_exporter_names") or ()
                if name.strip() != EXPORTER_NAME
            ]
        with exporters_without_token_usage(wanted):
            super().configure(**kwargs)  # type: ignore[no-untyped-call]
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            _log.warning(
                "token-usage configurator: the global tracer provider is %s, not the SDK's; "
                "no session processor or session log added",
                type(provider).__name__,
            )
            return
        add_session_processor(provider)
        if wanted:
            provider.add_span_processor(TokenUsageSpanProcessor(TokenUsageSpanExporter()))
            warn_if_lines_follow_sampling(provider)  # a declarative config may set its own
        flush_before_metrics_at_exit()
