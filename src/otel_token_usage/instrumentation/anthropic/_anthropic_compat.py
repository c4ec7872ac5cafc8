"""Whether the Anthropic SDK will trace a call itself, so we must not add a second span.

The rule (anthropic 2.x, `anthropic/_tracing.py`): each client resolves its
`open_telemetry` option once, at construction (`False`, `{"traces": False}` or
`ANTHROPIC_OPEN_TELEMETRY=false` when no option is given all turn it off), and gets its
tracer lazily through `client._tracer`: `None` when traces are off or no tracer provider
can be loaded, else a tracer from the client's own `tracer_provider` or the global one.
`request()` starts the call span `anthropic.messages.create` whenever that tracer is not
`None`.

So a call gets a native span exactly when the client's tracer is a live one:

- `None` (traces off, or OpenTelemetry unusable): no native span, we instrument.
- the API's `ProxyTracer` (the client uses the global provider): live only once a real
  global provider has been set; checked at each call, since the proxy starts
  delegating the moment one is set.
- a `NoOpTracer` (a disabled SDK, a no-op provider): no native span, we instrument.
- any other tracer: the SDK traces the call; sampling decides for its span just as it
  would for ours, so we add nothing.

An SDK without native tracing (before 2.x) has no `_tracer` at all: we instrument. When
the question cannot be answered (an unexpected error) we instrument too: a call seen by
both producers still makes one record, since the exporter writes one line per
`gen_ai.response.id`.
"""

from __future__ import annotations

import logging

from opentelemetry.trace import NoOpTracer, ProxyTracer, Tracer

from otel_token_usage._util import ThrottledLogger

__all__ = ["native_span_expected"]

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)


def native_span_expected(resource: object) -> bool:
    """True when the client behind `resource` (a `Messages` or `AsyncMessages`) will
    emit its own span for a call made now. Never raises."""
    try:
        client = getattr(resource, "_client", None)
        if client is None:
            return False
        tracer = getattr(client, "_tracer", None)
        if not isinstance(tracer, Tracer):
            return False
        return _live(tracer)
    except Exception as exc:  # noqa: BLE001 - when unsure, instrument (the exporter de-duplicates)
        _warn.warning(
            "native", "could not tell whether an Anthropic client traces natively: %s", exc
        )
        return False


def _live(tracer: Tracer) -> bool:
    if isinstance(tracer, ProxyTracer):
        # The proxy resolves against the global provider on each use: a real tracer once
        # one is set, the no-op tracer before.
        resolved = getattr(tracer, "_tracer", None)
        if not isinstance(resolved, Tracer):
            return False
        tracer = resolved
    return not isinstance(tracer, NoOpTracer)
