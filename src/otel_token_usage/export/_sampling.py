"""Trace sampling that costs no line: `TokenUsageSampler`, the samplers named by
`OTEL_TRACES_SAMPLER`, and the check that warns when a pipeline's lines follow the sample.

Production tracing keeps 1-10 % of traces. A span the sampler drops is never recorded
and never reaches a span processor, so its LLM call would get no line and no token
metric. `TokenUsageSampler` wraps the application's sampler and turns its DROP into
RECORD_ONLY for spans that are LLM calls by the attributes they start with (the same
rule as `SessionSpanProcessor`, `semconv.is_inference`): such a span is recorded, but its
sampled flag stays unset, so OTLP trace exporters (behind the SDK's `BatchSpanProcessor`,
which passes on only sampled spans) still receive exactly the sampled traces, and the
trace context sent downstream still says "not sampled". `TokenUsageSpanProcessor`
(`_processor`) is the processor that hands those recorded-only spans to the exporter.

Only the public `opentelemetry.sdk.trace.sampling` API is used.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.environment_variables import OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    Decision,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from otel_token_usage.semconv import is_inference

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "INNER_SAMPLER_ENV",
    "SAMPLER_ENTRY_POINT_GROUP",
    "TokenUsageSampler",
    "follows_sampling",
    "mark_fed_unsampled",
    "mark_recorded_only",
    "named_sampler",
    "sampler_from_env",
    "warn_if_lines_follow_sampling",
    "was_sampled",
]

_log = logging.getLogger(__name__)

SAMPLER_ENTRY_POINT_GROUP = "opentelemetry_traces_sampler"
INNER_SAMPLER_ENV = "OTEL_TOKEN_USAGE_SAMPLER"
"""The sampler the `token_usage` entry point wraps (default `parentbased_always_on`)."""
_OURS = "token_usage"
_DEFAULT = "parentbased_always_on"
_DROP = Decision.DROP
_RECORD_ONLY = Decision.RECORD_ONLY


class TokenUsageSampler(Sampler):
    """The application's sampler, except that an LLM-call span it drops is still recorded.

    `inner` decides every span (default: the sampler `OTEL_TRACES_SAMPLER` /
    `OTEL_TRACES_SAMPLER_ARG` name, as the SDK reads them, else `parentbased_always_on`).
    When it returns DROP for a span that starts as an LLM call (`gen_ai.operation.name`
    chat / text_completion / generate_content, OpenInference `LLM`, OpenLLMetry
    `llm.request.type`; never agent, tool or workflow spans), the result is RECORD_ONLY
    with the span's attributes and the inner result's trace state. Nothing else changes:
    sampled spans stay sampled, other dropped spans stay dropped (so the children of a
    recorded-only LLM span, such as its HTTP request, are dropped with their trace), and
    the sampled flag is never set by us. This holds for children of an unsampled parent
    too, where `ParentBased` samplers drop without looking at the span.

    A recorded-only span reaches span processors' `on_end`, but the SDK's
    `BatchSpanProcessor` and `SimpleSpanProcessor` pass on only sampled spans: give the
    token exporter `TokenUsageSpanProcessor`, which takes both.

    Cost: one call to `inner` plus, for dropped spans, a few dictionary lookups (under
    1 us per span; `benchmarks/sampler.py` measures it).
    """

    def __init__(self, inner: Sampler | None = None) -> None:
        if inner is None:
            inner = sampler_from_env()
        if isinstance(inner, TokenUsageSampler):  # never wrapped twice
            inner = inner.inner
        self._inner = inner
        self._inner_should_sample = inner.should_sample  # once per span: bound once

    @property
    def inner(self) -> Sampler:
        """The wrapped sampler, which decides every span."""
        return self._inner

    def should_sample(  # noqa: PLR0917 - the SDK's signature, called positionally
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """The inner sampler's result; DROP becomes RECORD_ONLY for an LLM-call span."""
        result = self._inner_should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if result.decision is _DROP and attributes and is_inference(attributes):
            return SamplingResult(_RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        """`TokenUsageSampler{<inner's description>}`."""
        return f"TokenUsageSampler{{{self._inner.get_description()}}}"


def follows_sampling(sampler: Sampler) -> bool:
    """True when `sampler` can drop an LLM-call span: anything but a `TokenUsageSampler`
    or an always-on sampler. (`parentbased_always_on`, the SDK's default, drops the
    children of a parent that a caller did not sample.)"""
    if isinstance(sampler, TokenUsageSampler):
        return False
    return not (
        isinstance(sampler, StaticSampler) and sampler.get_description() == "AlwaysOnSampler"
    )


# --- samplers by name, as OTEL_TRACES_SAMPLER names them ---


def _rate(arg: str | float | None) -> float:
    """A ratio sampler's rate from `OTEL_TRACES_SAMPLER_ARG`: 1.0 (with a warning) when
    it is missing, not a number or outside [0, 1], as the SDK does."""
    try:
        rate = float(arg if arg is not None and arg != "" else "nan")
    except (TypeError, ValueError):
        rate = float("nan")
    if not 0.0 <= rate <= 1.0:
        _log.warning("%s=%r is not a rate in [0, 1]; using 1.0", OTEL_TRACES_SAMPLER_ARG, arg)
        return 1.0
    return rate


_BUILT_IN: dict[str, Callable[[str | float | None], Sampler]] = {
    "always_on": lambda _arg: ALWAYS_ON,
    "always_off": lambda _arg: ALWAYS_OFF,
    "parentbased_always_on": lambda _arg: DEFAULT_ON,
    "parentbased_always_off": lambda _arg: DEFAULT_OFF,
    "traceidratio": lambda arg: TraceIdRatioBased(_rate(arg)),
    "parentbased_traceidratio": lambda arg: ParentBasedTraceIdRatio(_rate(arg)),
}


def named_sampler(name: str, arg: str | float | None = None) -> Sampler:
    """The sampler `OTEL_TRACES_SAMPLER=<name>` selects, with `arg` as its
    `OTEL_TRACES_SAMPLER_ARG`: one of the SDK's six built-in names, ours (`token_usage`,
    `token_usage_<built-in>`), or any other `opentelemetry_traces_sampler` entry point.
    A name that cannot be loaded is a warning and the SDK's default,
    `parentbased_always_on`."""
    key = name.strip()
    built_in = _BUILT_IN.get(key.lower())
    if built_in is not None:
        return built_in(arg)
    if key == _OURS or key.startswith(_OURS + "_"):
        factory = _OUR_FACTORIES.get(key)
        if factory is not None:
            return factory(arg)
    else:
        try:
            found = entry_points(group=SAMPLER_ENTRY_POINT_GROUP, name=key)
            for entry_point in found:
                sampler = entry_point.load()(arg)
                if isinstance(sampler, Sampler):
                    return sampler
                _log.warning("sampler %r made %r, not a Sampler; using %s", key, sampler, _DEFAULT)
                return DEFAULT_ON
        except Exception as exc:  # noqa: BLE001 - a user's sampler factory may fail anyhow
            _log.warning("sampler %r could not be built (%s); using %s", key, exc, _DEFAULT)
            return DEFAULT_ON
    _log.warning("no trace sampler named %r; using %s", key, _DEFAULT)
    return DEFAULT_ON


def sampler_from_env() -> Sampler:
    """The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name (default
    `parentbased_always_on`), as the SDK would build it."""
    name = os.environ.get(OTEL_TRACES_SAMPLER, "").strip() or _DEFAULT
    return named_sampler(name, os.environ.get(OTEL_TRACES_SAMPLER_ARG))


# Entry points (`opentelemetry_traces_sampler`): factories taking OTEL_TRACES_SAMPLER_ARG.


def token_usage(arg: str | float | None = None) -> TokenUsageSampler:
    """`OTEL_TRACES_SAMPLER=token_usage`: wraps the sampler `OTEL_TOKEN_USAGE_SAMPLER`
    names (any name `OTEL_TRACES_SAMPLER` accepts; default `parentbased_always_on`), which
    gets `OTEL_TRACES_SAMPLER_ARG`."""
    inner = os.environ.get(INNER_SAMPLER_ENV, "").strip() or _DEFAULT
    if inner == _OURS:
        _log.warning("%s cannot name %r itself; using %s", INNER_SAMPLER_ENV, inner, _DEFAULT)
        inner = _DEFAULT
    return TokenUsageSampler(named_sampler(inner, arg))


def _wrapping(built_in: str) -> Callable[[str | float | None], TokenUsageSampler]:
    def factory(arg: str | float | None = None) -> TokenUsageSampler:
        return TokenUsageSampler(_BUILT_IN[built_in](arg))

    factory.__name__ = factory.__qualname__ = built_in
    factory.__doc__ = f"`OTEL_TRACES_SAMPLER={_OURS}_{built_in}`: `{built_in}`, wrapped."
    return factory


_WRAPPED = {name: _wrapping(name) for name in _BUILT_IN}
always_on = _WRAPPED["always_on"]
always_off = _WRAPPED["always_off"]
parentbased_always_on = _WRAPPED["parentbased_always_on"]
parentbased_always_off = _WRAPPED["parentbased_always_off"]
traceidratio = _WRAPPED["traceidratio"]
parentbased_traceidratio = _WRAPPED["parentbased_traceidratio"]

_OUR_FACTORIES: dict[str, Callable[[str | float | None], Sampler]] = {
    _OURS: token_usage,
    **{f"{_OURS}_{name}": factory for name, factory in _WRAPPED.items()},
}


# --- recorded-only spans handed to the exporter as sampled copies ---

RECORDED_ONLY_KEY = "token_usage"
RECORDED_ONLY_VALUE = "recorded_only"


def mark_recorded_only(trace_state: TraceState) -> TraceState:
    """`trace_state` with our marker: the span it belongs to was not sampled."""
    if RECORDED_ONLY_KEY in trace_state:
        return trace_state.update(RECORDED_ONLY_KEY, RECORDED_ONLY_VALUE)
    return trace_state.add(RECORDED_ONLY_KEY, RECORDED_ONLY_VALUE)


def was_sampled(context: SpanContext) -> bool:
    """True when the span of `context` was sampled: its flag says so and it is not one
    of `TokenUsageSpanProcessor`'s recorded-only copies."""
    return (
        context.trace_flags.sampled
        and context.trace_state.get(RECORDED_ONLY_KEY) != RECORDED_ONLY_VALUE
    )


# --- the warning for pipelines whose lines follow the sample ---

_fed_unsampled: weakref.WeakSet[object] = weakref.WeakSet()
_checked: weakref.WeakSet[object] = weakref.WeakSet()
_warned: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
_lock = threading.Lock()


def mark_fed_unsampled(exporter: object) -> None:
    """Note that `exporter` is fed by a processor that passes on recorded-only spans."""
    _fed_unsampled.add(exporter)


def warn_if_lines_follow_sampling(provider: TracerProvider, exporter: object | None = None) -> bool:
    """Warn once per provider when the LLM calls of unsampled traces cannot become lines:
    its sampler can drop them (`follows_sampling`), or, with `exporter` given, that
    exporter is behind a processor that passes on only sampled spans. True if it warned
    (now or before)."""
    sampler = provider.sampler
    dropped = follows_sampling(sampler)
    unfed = exporter is not None and exporter not in _fed_unsampled
    if not dropped and not (unfed and not _always_on(sampler)):
        return False
    with _lock:
        if provider in _warned:
            return True
        _warned.add(provider)
    if dropped:
        _log.warning(
            "token-usage: the tracer provider's sampler %s can drop LLM-call spans, and a "
            "dropped call gets no line in the session log and no token metric: the log "
            "holds a sample. Wrap it (TracerProvider(sampler=TokenUsageSampler(...)), "
            "OTEL_TRACES_SAMPLER=token_usage_<sampler>) and export through "
            "TokenUsageSpanProcessor, or use configure() or "
            "OTEL_PYTHON_CONFIGURATOR=token_usage",
            sampler.get_description(),
        )
    else:
        _log.warning(
            "token-usage: LLM-call spans of unsampled traces are recorded (%s) but the "
            "token-usage exporter's processor passes on only sampled spans, so their calls "
            "get no line and no token metric; export through TokenUsageSpanProcessor",
            sampler.get_description(),
        )
    return True


def _always_on(sampler: Sampler) -> bool:
    inner = sampler.inner if isinstance(sampler, TokenUsageSampler) else sampler
    return not follows_sampling(inner)


def check_exporter_once(exporter: object, spans: Sequence[ReadableSpan]) -> None:
    """At an exporter's first export: if the global SDK tracer provider made these spans
    (same `Resource` object), warn when its lines follow trace sampling. Never raises."""
    if exporter in _checked or not spans:
        return
    try:
        _checked.add(exporter)
        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider) and spans[0].resource is provider.resource:
            warn_if_lines_follow_sampling(provider, exporter)
    except Exception as exc:  # noqa: BLE001 - a check must never cost the export
        _log.debug("sampling check failed: %s", exc)
