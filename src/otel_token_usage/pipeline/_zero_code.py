"""Zero code: what `configure()` sets up, for apps run under `opentelemetry-instrument`.

Two entry points, both named `token_usage`:

- `opentelemetry_configurator` -> `_configurator.TokenUsageConfigurator`, chosen with
  `OTEL_PYTHON_CONFIGURATOR=token_usage`. It is opentelemetry-distro's configurator (the
  SDK's environment-driven set-up, unchanged: exporters, resource, metrics, logs) plus,
  when `OTEL_TRACES_EXPORTER` lists `token_usage`, the path that makes every LLM call a
  line whatever the trace sampling: `TokenUsageSampler` around the sampler
  `OTEL_TRACES_SAMPLER` names, and `TokenUsageSpanExporter` behind
  `TokenUsageSpanProcessor` instead of the SDK's `BatchSpanProcessor`. And always
  `SessionSpanProcessor`, so `session(...)` reaches spans of any producer.
- `opentelemetry_post_instrument` -> `after_instrumentation`, run by
  `opentelemetry-instrument` after whichever configurator was chosen (entry points of
  that group are all run: it composes with any distro). Under another configurator it
  adds `SessionSpanProcessor` to the SDK tracer provider; under any, it places the exit
  flush after the meter provider's shutdown hook, so a short run's token metrics are not
  lost (see `export._metrics.flush_before_metrics_at_exit`), and with the token exporter
  listed it loads the price data for the cost metric while the application starts.

Why a configurator and not a distro: `opentelemetry-instrument` loads one distro and one
configurator (the one `OTEL_PYTHON_DISTRO` / `OTEL_PYTHON_CONFIGURATOR` names, else the
first found). Only the configurator builds the tracer provider, so only it can choose
the sampler and the token exporter's processor. A distro's part (opentelemetry-distro's
`OpenTelemetryDistro` sets the OTLP defaults) stays the user's own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.trace import TracerProvider

from otel_token_usage.export import SessionSpanProcessor
from otel_token_usage.export._metrics import flush_before_metrics_at_exit, preload_prices

__all__ = [
    "EXPORTER_NAME",
    "add_session_processor",
    "after_instrumentation",
    "exporters_without_token_usage",
    "lists_token_usage",
]

_log = logging.getLogger(__name__)
EXPORTER_NAME = "token_usage"
"""Our `opentelemetry_traces_exporter` entry point: `OTEL_TRACES_EXPORTER=...,token_usage`."""

_lock = threading.Lock()
_session_processor_added = False


def after_instrumentation() -> None:
    """`opentelemetry_post_instrument` hook: `SessionSpanProcessor` on the SDK tracer
    provider if the configurator did not add one, and the exit flush placed after the
    meter provider's shutdown. Never raises."""
    try:
        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            add_session_processor(provider)
        metrics = flush_before_metrics_at_exit()
        if metrics and lists_token_usage(os.environ.get(OTEL_TRACES_EXPORTER, "")):
            # Token metrics will be recorded: the cost metric's prices are loaded at
            # start, as a short run's only batch leaves at exit.
            preload_prices()
    except Exception as exc:  # noqa: BLE001 - never break the application's start
        _log.warning("token-usage: zero-code set-up incomplete: %s", exc)


def add_session_processor(provider: TracerProvider) -> None:
    """Add `SessionSpanProcessor` to `provider`, once per process."""
    global _session_processor_added  # noqa: PLW0603 - once per process
    with _lock:
        if _session_processor_added:
            return
        _session_processor_added = True
    provider.add_span_processor(SessionSpanProcessor())


def lists_token_usage(names: str) -> bool:
    """True when a comma-separated exporter list (`OTEL_TRACES_EXPORTER`) names ours."""
    return EXPORTER_NAME in (name.strip() for name in names.split(","))


@contextlib.contextmanager
def exporters_without_token_usage(active: bool) -> Iterator[None]:
    """`OTEL_TRACES_EXPORTER` without `token_usage` while the SDK reads it (the SDK offers
    no public way to choose one exporter's processor), restored afterwards."""
    original = os.environ.get(OTEL_TRACES_EXPORTER)
    if not active or original is None:
        yield
        return
    others = [name for name in original.split(",") if name.strip() not in ("", EXPORTER_NAME)]
    os.environ[OTEL_TRACES_EXPORTER] = ",".join(others) or "none"
    try:
        yield
    finally:
        os.environ[OTEL_TRACES_EXPORTER] = original
