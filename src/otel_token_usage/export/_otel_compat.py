"""The one place the exporter relies on a private name of the OpenTelemetry API.

Before `set_meter_provider()`, `get_meter_provider()` returns the API's proxy provider,
whose instruments record nothing until a real provider is set. The public API cannot tell
it apart from a real provider, and the exporter wants to skip all metrics work while no
provider is set (the common case of an application that only wants the session log). So
we recognise the proxy by its class, `opentelemetry.metrics._internal._ProxyMeterProvider`.

If a future API drops that name, `no_meter_provider_yet` falls back to "a provider is
set" (metrics then go through the proxy: still correct, slightly slower) and one warning
says so. `tests/test_compat.py` fails as soon as the name disappears.
"""

from __future__ import annotations

import logging

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider

__all__ = ["PROXY_METER_PROVIDER_TYPE", "no_meter_provider_yet"]

_log = logging.getLogger(__name__)

PROXY_METER_PROVIDER_TYPE: type[MeterProvider] | None
try:
    from opentelemetry.metrics._internal import _ProxyMeterProvider
except ImportError:  # pragma: no cover - only on an API without the name
    PROXY_METER_PROVIDER_TYPE = None
    _log.warning(
        "opentelemetry.metrics._internal._ProxyMeterProvider is gone: otel-token-usage "
        "cannot tell an unset global meter provider from a real one and records token "
        "metrics through the proxy"
    )
else:
    PROXY_METER_PROVIDER_TYPE = _ProxyMeterProvider

_NOTHING_RECORDS: tuple[type[MeterProvider], ...] = (
    (NoOpMeterProvider,)
    if PROXY_METER_PROVIDER_TYPE is None
    else (NoOpMeterProvider, PROXY_METER_PROVIDER_TYPE)
)


def no_meter_provider_yet(provider: MeterProvider) -> bool:
    """True when measurements on `provider` reach nothing: a no-op provider, or the
    global proxy before a real provider is set."""
    return isinstance(provider, _NOTHING_RECORDS)
