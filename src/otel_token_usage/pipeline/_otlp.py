"""OTLP settings for `configure()`: arguments, else the standard variables, else defaults.

The exporters and the metric reader are the OpenTelemetry SDK's own; this module only
decides which of them to build and with what. What is left as None here the SDK's
classes read from the environment themselves (endpoint, headers, timeout, interval,
temporality), so the standard `OTEL_EXPORTER_OTLP_*` / `OTEL_METRIC_EXPORT_*` variables
keep their documented meaning. As in `config`: a bad argument raises `ValueError`, a bad
variable is a warning and the default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.trace.export import SpanExporter

from otel_token_usage._util import ThrottleFilter

__all__ = [
    "PROTOCOLS",
    "TEMPORALITIES",
    "OtlpSettings",
    "Protocol",
    "Temporality",
    "metric_reader",
    "span_exporter",
    "throttle_export_logs",
]

Protocol = Literal["grpc", "http/protobuf"]
Temporality = Literal["cumulative", "delta", "lowmemory"]
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http/protobuf")
TEMPORALITIES: tuple[Temporality, ...] = ("cumulative", "delta", "lowmemory")
DEFAULT_PROTOCOL: Protocol = "http/protobuf"
"""The OTLP exporter specification's default (the Python distro's is grpc)."""

_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
_log = logging.getLogger(__name__)

_C, _D = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA
# The specification's table for OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE.
_TEMPORALITY_TABLES: dict[Temporality, dict[type, AggregationTemporality]] = {
    "cumulative": {
        Counter: _C,
        UpDownCounter: _C,
        Histogram: _C,
        ObservableCounter: _C,
        ObservableUpDownCounter: _C,
        ObservableGauge: _C,
    },
    "delta": {
        Counter: _D,
        UpDownCounter: _C,
        Histogram: _D,
        ObservableCounter: _D,
        ObservableUpDownCounter: _C,
        ObservableGauge: _C,
    },
    "lowmemory": {
        Counter: _D,
        UpDownCounter: _C,
        Histogram: _D,
        ObservableCounter: _C,
        ObservableUpDownCounter: _C,
        ObservableGauge: _C,
    },
}


@dataclass(frozen=True)
class OtlpSettings:
    """Resolved OTLP forwarding: which signals, over what, to where."""

    traces: bool = False
    metrics: bool = False
    traces_protocol: Protocol = DEFAULT_PROTOCOL
    metrics_protocol: Protocol = DEFAULT_PROTOCOL
    endpoint: str | None = None
    """Base endpoint given as an argument; None lets the exporters read the variables."""
    headers: Mapping[str, str] | None = None
    timeout_s: float | None = None
    """Per-export timeout; None: `OTEL_EXPORTER_OTLP[_<SIGNAL>]_TIMEOUT` (SDK default 10 s)."""
    interval_ms: float | None = None
    """None: `OTEL_METRIC_EXPORT_INTERVAL` (SDK default 60 s)."""
    temporality: Temporality | None = None
    """None: `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (default cumulative)."""

    @classmethod
    def resolve(
        cls,
        *,
        traces: bool | None,
        metrics: bool | None,
        protocol: str | None,
        endpoint: str | None,
        headers: Mapping[str, str] | None,
        timeout_s: float | None,
        interval_ms: float | None,
        temporality: str | None,
        traces_default: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> OtlpSettings:
        """Which signals are forwarded: the argument if given; else on when the signal's
        `OTEL_<SIGNAL>_EXPORTER` lists `otlp` (off when it lists only others); else on
        when an OTLP endpoint is given or configured (`traces_default=False` keeps traces
        off in that last case). Raises `ValueError` for a bad argument only."""
        env = os.environ if environ is None else environ
        if protocol is not None and protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
        if temporality is not None and temporality not in TEMPORALITIES:
            raise ValueError(f"temporality must be one of {TEMPORALITIES}, not {temporality!r}")
        for name, number in (("export_timeout_s", timeout_s), ("interval_ms", interval_ms)):
            if number is not None and not (isinstance(number, int | float) and number > 0):
                raise ValueError(f"{name} must be a positive number, not {number!r}")
        if endpoint is not None and not (isinstance(endpoint, str) and endpoint):
            raise ValueError(f"endpoint must be a non-empty URL, not {endpoint!r}")
        return cls(
            traces=_signal_on("traces", traces, endpoint, env, default=traces_default),
            metrics=_signal_on("metrics", metrics, endpoint, env, default=True),
            traces_protocol=_protocol("traces", protocol, env),
            metrics_protocol=_protocol("metrics", protocol, env),
            endpoint=endpoint,
            headers=dict(headers) if headers is not None else None,
            timeout_s=float(timeout_s) if timeout_s is not None else None,
            interval_ms=float(interval_ms) if interval_ms is not None else None,
            temporality=temporality,
        )


def _signal_on(
    signal: str, given: bool | None, endpoint: str | None, env: Mapping[str, str], *, default: bool
) -> bool:
    if given is not None:
        return bool(given)
    listed = env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip()
    if listed:
        return "otlp" in {name.strip() for name in listed.split(",")}
    configured = (
        endpoint or env.get(_ENDPOINT) or env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )
    return default and bool(configured)


def _protocol(signal: str, given: str | None, env: Mapping[str, str]) -> Protocol:
    if given is not None:
        return cast(Protocol, given)
    for variable in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", _PROTOCOL):
        text = env.get(variable, "").strip()
        if not text:
            continue
        if text in PROTOCOLS:
            return text
        _log.warning(
            "ignoring %s=%r (supported: %s); using %s", variable, text, PROTOCOLS, DEFAULT_PROTOCOL
        )
        return DEFAULT_PROTOCOL
    return DEFAULT_PROTOCOL


def _signal_endpoint(settings: OtlpSettings, protocol: Protocol, path: str) -> str | None:
    if settings.endpoint is None:
        return None
    if protocol == "grpc":
        return settings.endpoint
    return f"{settings.endpoint.rstrip('/')}/{path}"


def span_exporter(settings: OtlpSettings) -> SpanExporter:
    """The SDK's OTLP span exporter for these settings (imported only when used)."""
    endpoint = _signal_endpoint(settings, settings.traces_protocol, "v1/traces")
    headers = dict(settings.headers) if settings.headers is not None else None
    if settings.traces_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter(endpoint=endpoint, headers=headers, timeout=settings.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter(endpoint=endpoint, headers=headers, timeout=settings.timeout_s)


def metric_reader(settings: OtlpSettings) -> PeriodicExportingMetricReader:
    """A `PeriodicExportingMetricReader` around the SDK's OTLP metric exporter."""
    endpoint = _signal_endpoint(settings, settings.metrics_protocol, "v1/metrics")
    headers = dict(settings.headers) if settings.headers is not None else None
    temporality = dict(_TEMPORALITY_TABLES[settings.temporality]) if settings.temporality else None
    if settings.metrics_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as GrpcMetricExporter,
        )

        exporter: object = GrpcMetricExporter(
            endpoint=endpoint,
            headers=headers,
            timeout=settings.timeout_s,
            preferred_temporality=temporality,
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as HttpMetricExporter,
        )

        exporter = HttpMetricExporter(
            endpoint=endpoint,
            headers=headers,
            timeout=settings.timeout_s,
            preferred_temporality=temporality,
        )
    timeout_ms = settings.timeout_s * 1000 if settings.timeout_s is not None else None
    return PeriodicExportingMetricReader(
        exporter,  # type: ignore[arg-type]
        export_interval_millis=settings.interval_ms,
        export_timeout_millis=timeout_ms,
    )


# Loggers through which the SDK reports a failed export, retry or shutdown wait.
_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.sdk.metrics._internal.export",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
)


_FILTER = ThrottleFilter()


def throttle_export_logs() -> None:
    """Throttle the SDK's export-failure logging (idempotent, process-wide)."""
    for name in _EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
