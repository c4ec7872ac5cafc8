"""Every private name of the `anthropic` SDK this project reads, in one place.

The SDK offers no public hook for three questions the instrumentor must answer per call:

- *Which client is behind a `Messages` resource?* The resource keeps it in `_client`.
- *Will that client trace the call itself?* (anthropic 2.x, `anthropic/_tracing.py`.)
  Each client resolves its `open_telemetry` option at construction (`False`,
  `{"traces": False}` or `ANTHROPIC_OPEN_TELEMETRY=false` turn it off) and gets its
  tracer lazily through `client._tracer`: None when traces are off or no provider can be
  loaded, else a tracer from the client's own `tracer_provider` or the global one. A call
  gets the SDK's own `anthropic.messages.create` span exactly when that tracer is live:
  a real tracer, or the API's `ProxyTracer` once a real global provider is set (its
  `_tracer` then is a real tracer; checked per call, since the proxy starts delegating
  the moment one is set). Then we add no second span.
- *Which provider is it?* Platform clients (Bedrock, Vertex) name theirs in
  `_gen_ai_provider_name` ("aws.bedrock", "gcp.vertex_ai").

Nothing here is written, only read. When a name is gone (a future SDK), the answer falls
back to the safe side — instrument the call (the exporter merges a call seen by two
producers into one line), provider "anthropic" — and a throttled warning names what is
missing. An SDK that predates native tracing (before 2.x) has no `_tracer` by design: no
warning then. `tests/test_compat.py` fails as soon as the installed SDK lacks a name read
here.
"""

from __future__ import annotations

import importlib.util
import logging

from opentelemetry.trace import NoOpTracer, ProxyTracer, Tracer

from otel_token_usage._util import ThrottledLogger

__all__ = ["PRIVATE_NAMES", "client_of", "native_span_expected", "platform_provider"]

PRIVATE_NAMES = (
    "Messages._client",
    "BaseClient._tracer",
    "ProxyTracer._tracer",
    "BaseClient._gen_ai_provider_name",
)
"""What this module reads (for the canary test and the warnings)."""

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


def _native_tracing_exists() -> bool:
    try:
        return importlib.util.find_spec("anthropic._tracing") is not None
    except (ImportError, ValueError):
        return False


_NATIVE_TRACING = _native_tracing_exists()


def client_of(resource: object) -> object | None:
    """The client behind a `Messages` / `AsyncMessages` resource, or None."""
    client = getattr(resource, "_client", None)
    if client is None:
        _warn.warning(
            "client",
            "anthropic SDK: Messages._client is gone; otel-token-usage cannot see the "
            "client of a call (native tracing and platform provider are not detected)",
        )
    return client


def native_span_expected(resource: object) -> bool:
    """True when the client behind `resource` will emit its own span for a call made
    now. Never raises; when unsure, False (we instrument)."""
    try:
        client = client_of(resource)
        if client is None:
            return False
        if not hasattr(client, "_tracer"):
            if _NATIVE_TRACING:
                _warn.warning(
                    "tracer",
                    "anthropic SDK: client._tracer is gone; otel-token-usage cannot tell "
                    "whether the SDK traces a call itself and traces every call",
                )
            return False
        tracer = client._tracer
        if not isinstance(tracer, Tracer):
            return False
        return _live(tracer)
    except Exception as exc:  # noqa: BLE001 - when unsure, instrument (the exporter merges)
        _warn.warning("native", "could not tell whether an Anthropic client traces: %s", exc)
        return False


def _live(tracer: Tracer) -> bool:
    if isinstance(tracer, ProxyTracer):
        # The proxy resolves against the global provider on each use: a real tracer once
        # one is set, the no-op tracer before.
        resolved = getattr(tracer, "_tracer", None)
        if resolved is None:
            _warn.warning(
                "proxy",
                "opentelemetry API: ProxyTracer._tracer is gone; an Anthropic client on the "
                "global provider is assumed not to trace natively",
            )
            return False
        if not isinstance(resolved, Tracer):
            return False
        tracer = resolved
    return not isinstance(tracer, NoOpTracer)


def platform_provider(resource: object) -> str | None:
    """The provider name a platform client (Bedrock, Vertex) declares, or None."""
    name = getattr(client_of(resource), "_gen_ai_provider_name", None)
    return name if isinstance(name, str) and name else None
