"""`configure()`: the session log, token metrics and OTLP forwarding in one call.

It only assembles OpenTelemetry SDK objects (README, "Metrics and configure()", shows
the same by hand):

1. a `TracerProvider` with `Resource(service.name)` and `TokenUsageSampler` around the
   application's sampler (`sampler=`, else `OTEL_TRACES_SAMPLER` / `_ARG`) -- or the
   global SDK provider if one is already set, or the one passed in (their sampler cannot
   be changed: a warning says when it can drop LLM calls);
2. `SessionSpanProcessor` (stamps `session(...)` onto LLM spans), then
   `TokenUsageSpanProcessor(TokenUsageSpanExporter(...))`: the session log, with every
   LLM call whether or not its trace is sampled;
3. optionally `BatchSpanProcessor(OTLPSpanExporter)`: traces to a collector, in its own
   processor and thread, so a slow collector never holds back the session log;
4. optionally a `MeterProvider` with `PeriodicExportingMetricReader(OTLPMetricExporter)`
   that the exporter records the token metrics on (gRPC or HTTP/protobuf).

Isolation: the application's threads only enqueue finished spans; the log is written in
the token processor's thread; network I/O happens only in the OTLP processor's and the
metric reader's threads, bounded by the export timeout, and the SDK's failure logging is
throttled (a few lines a minute). `TokenUsagePipeline.shutdown()` writes the session log
first and gives the network parts the rest of a bounded time.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from otel_token_usage.export import (
    SessionSpanProcessor,
    TokenUsageSampler,
    TokenUsageSpanExporter,
    TokenUsageSpanProcessor,
)
from otel_token_usage.export._sampling import warn_if_lines_follow_sampling

from ._otlp import OtlpSettings, metric_reader, span_exporter, throttle_export_logs

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT_S", "TokenUsagePipeline", "configure"]

DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0
_log = logging.getLogger(__name__)
_lock = threading.Lock()
# One pipeline per tracer provider: a second configure() for the same one returns it.
_pipelines: weakref.WeakKeyDictionary[TracerProvider, TokenUsagePipeline] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class TokenUsagePipeline:
    """What `configure()` set up; `shutdown()` flushes and stops all of it.

    `span_processor` is the `TokenUsageSpanProcessor` feeding `span_exporter` (its
    `force_flush()` writes the session log without waiting for any collector);
    `meter_provider` is the provider the token metrics are recorded on when
    `configure()` chose one (None: the exporter follows the global provider).
    """

    tracer_provider: TracerProvider
    span_exporter: TokenUsageSpanExporter
    span_processor: TokenUsageSpanProcessor
    meter_provider: MeterProvider | None = None
    otlp_span_exporter: SpanExporter | None = None
    metric_reader: PeriodicExportingMetricReader | None = None
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    _local: list[SpanProcessor] = field(default_factory=list, repr=False)
    _otlp_processor: BatchSpanProcessor | None = field(default=None, repr=False)
    _owns_tracer_provider: bool = field(default=False, repr=False)
    _owns_meter_provider: bool = field(default=False, repr=False)
    _done: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_shutdown(self) -> bool:
        """True once `shutdown()` has run."""
        return self._done

    def force_flush(self, timeout_millis: float | None = None) -> bool:
        """Write every finished span's line, then push traces and metrics out; True when
        all of it finished within the timeout (default `shutdown_timeout_s`). A failed
        export is the SDK's (throttled) log line, not a False here."""
        deadline = self._deadline(timeout_millis)
        ok = all(processor.force_flush() for processor in self._local)
        jobs: list[tuple[str, Callable[[], object], Callable[[], None] | None]] = []
        if self._otlp_processor is not None:
            jobs.append(("traces", self._otlp_processor.force_flush, None))
        if self.metric_reader is not None:
            reader = self.metric_reader
            jobs.append(("metrics", lambda: reader.force_flush(_remaining_ms(deadline)), None))
        return _run_bounded(jobs, deadline) and ok

    def shutdown(self, timeout_millis: float | None = None) -> bool:
        """Flush and stop, within `timeout_millis` (default `shutdown_timeout_s`) even when
        the collector is dead or hangs: the session log is written first, then traces and
        metrics get the time left, after which their exporters are stopped mid-retry.
        Idempotent; True when every part finished in time."""
        with self._lock:
            if self._done:
                return True
            self._done = True
        deadline = self._deadline(timeout_millis)
        for processor in self._local:
            processor.shutdown()
        jobs: list[tuple[str, Callable[[], object], Callable[[], None] | None]] = []
        if self._otlp_processor is not None and self.otlp_span_exporter is not None:
            jobs.append(("traces", self._otlp_processor.shutdown, self.otlp_span_exporter.shutdown))
        if self.metric_reader is not None:
            reader = self.metric_reader
            if self._owns_meter_provider and self.meter_provider is not None:
                provider = self.meter_provider
                jobs.append(("metrics", lambda: provider.shutdown(_remaining_ms(deadline)), None))
            else:
                jobs.append(("metrics", lambda: reader.shutdown(_remaining_ms(deadline)), None))
        ok = _run_bounded(jobs, deadline)
        atexit.unregister(self.shutdown)
        if self._owns_tracer_provider:
            self.tracer_provider.shutdown()  # every processor is already stopped: quick
        with _lock:
            if _pipelines.get(self.tracer_provider) is self:
                del _pipelines[self.tracer_provider]
        return ok

    def _deadline(self, timeout_millis: float | None) -> float:
        seconds = self.shutdown_timeout_s if timeout_millis is None else timeout_millis / 1000
        return time.monotonic() + seconds


def _remaining_ms(deadline: float) -> float:
    return max(0.0, (deadline - time.monotonic()) * 1000)


def _run_bounded(
    jobs: list[tuple[str, Callable[[], object], Callable[[], None] | None]], deadline: float
) -> bool:
    """Run the jobs side by side, each in a daemon thread; whatever is still running at the
    deadline is aborted (its exporter is shut down, which ends retry waits) and left to
    end on its own. True when all finished in time without raising."""
    results: dict[str, bool] = {}

    def run(name: str, job: Callable[[], object]) -> None:
        try:
            outcome = job()
            results[name] = outcome is not False
        except Exception as exc:  # noqa: BLE001 - a collector problem is a log line
            _log.warning("token-usage pipeline: %s did not finish cleanly: %s", name, exc)
            results[name] = False

    threads = []
    for name, job, _abort in jobs:
        thread = threading.Thread(
            target=run, args=(name, job), name=f"token-usage-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    ok = True
    for thread, (name, _job, abort) in zip(threads, jobs, strict=True):
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            ok = False
            _log.warning("token-usage pipeline: %s not flushed in time; giving up on it", name)
            if abort is not None:
                try:
                    abort()
                except Exception as exc:  # noqa: BLE001
                    _log.debug("aborting %s: %s", name, exc)
        else:
            ok = ok and results.get(name, False)
    return ok


def configure(
    sessions_dir: str | os.PathLike[str] | None = None,
    *,
    service_name: str | None = None,
    tracer_provider: TracerProvider | None = None,
    set_global: bool = True,
    sampler: Sampler | None = None,
    otlp_traces: bool | None = None,
    otlp_metrics: bool | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    export_timeout_s: float | None = None,
    metric_export_interval_ms: float | None = None,
    temporality: str | None = None,
    session_processor: bool = True,
    metrics: bool | None = None,
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S,
    **exporter_options: Any,
) -> TokenUsagePipeline:
    """Set up the session log, token metrics and OTLP forwarding; see the module docstring.

    - `sessions_dir`, `metrics` and `exporter_options` go to `TokenUsageSpanExporter`
      (its `OTEL_TOKEN_USAGE_*` variables apply to what is not given).
    - `set_global=True`: reuse the global SDK `TracerProvider` if there is one, else make
      one and set it global; likewise the `MeterProvider` when metrics are forwarded (an
      existing SDK one keeps its own readers and gets none added). `False`: new,
      private providers, or `tracer_provider` if given.
    - `sampler`: the trace sampler, wrapped in `TokenUsageSampler` so that every LLM
      call is a line and a metric while OTLP receives only the sampled traces (default:
      `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, else `parentbased_always_on`).
      An existing tracer provider keeps its own sampler; a warning says when it can drop
      LLM calls (see `TokenUsageSampler`).
    - OTLP traces / metrics: forwarded when `otlp_traces` / `otlp_metrics` say so; when
      None, when `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` list `otlp`, else when
      an endpoint is given or `OTEL_EXPORTER_OTLP[_<SIGNAL>]_ENDPOINT` is set. An existing
      tracer provider is assumed to export its traces already: traces are then forwarded
      only with `otlp_traces=True`.
    - `protocol` (`grpc` or `http/protobuf`, default `OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL`,
      else http/protobuf), `endpoint` (base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`),
      `headers`, `export_timeout_s`, `metric_export_interval_ms` and `temporality`
      (`cumulative`, `delta`, `lowmemory`) default to the standard variables.

    Calling it again for the same tracer provider (by default: the global one) while its
    pipeline is running returns that pipeline unchanged. A pipeline still running at
    interpreter exit is shut down then, within `shutdown_timeout_s`. Raises
    `ValueError` for a bad argument; a bad variable is a warning and the default.
    """
    if not shutdown_timeout_s > 0:
        raise ValueError(f"shutdown_timeout_s must be positive, not {shutdown_timeout_s!r}")
    with _lock:
        provider, owns_provider = _tracer_provider(tracer_provider, set_global)
        existing = _pipelines.get(provider) if provider is not None else None
        if existing is not None and not existing.is_shutdown:
            _log.info("configure(): a token-usage pipeline is already running; reusing it")
            return existing
        otlp = OtlpSettings.resolve(
            traces=otlp_traces,
            metrics=otlp_metrics,
            protocol=protocol,
            endpoint=endpoint,
            headers=headers,
            timeout_s=export_timeout_s,
            interval_ms=metric_export_interval_ms,
            temporality=temporality,
            traces_default=provider is None,
        )
        resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
        if otlp.traces or otlp.metrics:
            throttle_export_logs()
        meter_provider, reader, owns_meter = _meter_provider(otlp, resource, set_global)
        try:
            exporter = TokenUsageSpanExporter(
                sessions_dir, meter_provider=meter_provider, metrics=metrics, **exporter_options
            )
        except BaseException:
            if owns_meter and meter_provider is not None:
                with contextlib.suppress(Exception):  # ours, not yet global: undo it
                    meter_provider.shutdown(timeout_millis=1000)
            raise
        if owns_meter and set_global and meter_provider is not None:
            otel_metrics.set_meter_provider(meter_provider)
        log_processor = TokenUsageSpanProcessor(exporter)
        if provider is None:
            provider = TracerProvider(
                resource=resource,
                shutdown_on_exit=False,
                sampler=TokenUsageSampler(sampler),
            )
            owns_provider = True
            if set_global:
                trace.set_tracer_provider(provider)
                if trace.get_tracer_provider() is not provider:
                    _log.warning("configure(): another global TracerProvider is set; ours is not")
        else:
            if sampler is not None:
                _log.warning(
                    "configure(): sampler= is ignored: the existing TracerProvider keeps "
                    "its own sampler"
                )
            warn_if_lines_follow_sampling(provider)
        pipeline = TokenUsagePipeline(
            tracer_provider=provider,
            span_exporter=exporter,
            span_processor=log_processor,
            meter_provider=meter_provider,
            metric_reader=reader,
            shutdown_timeout_s=shutdown_timeout_s,
            _owns_tracer_provider=owns_provider,
            _owns_meter_provider=owns_meter,
        )
        if session_processor:
            pipeline._local.append(SessionSpanProcessor())
        pipeline._local.append(log_processor)
        if otlp.traces:
            pipeline.otlp_span_exporter = span_exporter(otlp)
            pipeline._otlp_processor = BatchSpanProcessor(pipeline.otlp_span_exporter)
        for processor in (*pipeline._local, pipeline._otlp_processor):
            if processor is not None:
                provider.add_span_processor(processor)
        _pipelines[provider] = pipeline
        atexit.register(pipeline.shutdown)  # the last lines must not die with the process
        return pipeline


def _tracer_provider(
    given: TracerProvider | None, set_global: bool
) -> tuple[TracerProvider | None, bool]:
    """(provider to add to, whether we own it); (None, True) means "make one"."""
    if given is not None:
        return given, False
    if set_global:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current, False
    return None, True


def _meter_provider(
    otlp: OtlpSettings, resource: Resource, set_global: bool
) -> tuple[MeterProvider | None, PeriodicExportingMetricReader | None, bool]:
    """(provider the metrics go to, our OTLP reader, whether we own the provider)."""
    if not otlp.metrics:
        return None, None, False
    if set_global:
        current = otel_metrics.get_meter_provider()
        if isinstance(current, MeterProvider):
            _log.info(
                "configure(): recording token metrics on the existing global MeterProvider; "
                "its own readers export them (no OTLP reader added)"
            )
            return current, None, False
    reader = metric_reader(otlp)
    provider = MeterProvider([reader], resource=resource, shutdown_on_exit=False)
    return provider, reader, True  # set global by the caller once everything is built
