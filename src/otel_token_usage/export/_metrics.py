"""Token metrics from records: what `TokenUsageSpanExporter` records on a `MeterProvider`.

Instruments (meter `otel_token_usage`), all names and attribute keys defined below once:

- `gen_ai.client.token.usage`: histogram, `{token}`, the GenAI conventions' bucket
  boundaries; one measurement per call and `gen_ai.token.type`: `input` (inclusive of
  cache reads and writes, as billed and as the conventions define input) and `output`
  (thinking included).
- Counters of the newer GenAI conventions, `{token}`, summed per batch:
  `gen_ai.client.inference.usage.input_tokens` (inclusive), `….output_tokens`,
  `….cache_read.input_tokens`, `….cache_write.input_tokens`, `….reasoning.output_tokens`.
  The cache and reasoning counters are parts of the input and output counters.
- `token_usage.client.inference.cost`: counter, `USD`, the estimated price of the calls
  (`genai-prices`' bundled data, overridable by a price file; see
  `otel_token_usage.analysis.PriceBook`). Our namespace, not `gen_ai.*`, because the
  conventions define no cost metric and may later define one with other rules. A model
  without a known price adds nothing to it and is logged once.

Attributes on every data point: `gen_ai.operation.name`, `gen_ai.provider.name`,
`gen_ai.request.model` (the span's, else the record's model) and `gen_ai.response.model`
(when the span names one) -- and nothing else. Each distinct attribute set is a time
series kept in memory by the SDK and by Prometheus for as long as it lives; a session id,
trace id or prompt size would make one series per session or call and grow without end.
Per-session numbers come from the session log (`token-usage` CLI), from the traces (every
LLM span carries `gen_ai.conversation.id` in Tempo), or from the histogram's exemplars:
each measurement is recorded in its span's context, so with the SDK's default
`trace_based` exemplar filter the exported buckets carry trace and span ids to jump from a
Grafana panel to the trace and its session.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.metrics import Counter, Histogram, MeterProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, set_span_in_context
from opentelemetry.util.types import AttributeValue

from otel_token_usage import semconv as a
from otel_token_usage._util import ThrottledLogger
from otel_token_usage.record import TokenCounts
from otel_token_usage.semconv import (
    CACHE_READ_INPUT_TOKENS,
    CACHE_WRITE_INPUT_TOKENS,
    COST,
    COST_UNIT,
    COUNTERS,
    DESCRIPTIONS,
    INPUT_TOKENS,
    METER_NAME,
    METRIC_ATTRIBUTES,
    OUTPUT_TOKENS,
    REASONING_OUTPUT_TOKENS,
    TOKEN_TYPE_INPUT,
    TOKEN_TYPE_OUTPUT,
    TOKEN_UNIT,
    TOKEN_USAGE,
    TOKEN_USAGE_BUCKETS,
)

from ._otel_compat import no_meter_provider_yet
from ._sampling import was_sampled

if TYPE_CHECKING:
    from otel_token_usage.pricing import Price, PriceBook

__all__ = [
    "MetricKey",
    "TokenMetrics",
    "flush_at_exit",
    "flush_before_metrics_at_exit",
    "metric_key",
]

MetricKey = tuple[str, str, str, str | None]
"""(operation, provider, request model, response model): one attribute set."""

_log = logging.getLogger(__name__)
_warn = ThrottledLogger(_log)
_COUNTED: dict[str, Callable[[TokenCounts], int]] = {
    INPUT_TOKENS: attrgetter("prompt_tokens"),  # the conventions' input is inclusive
    OUTPUT_TOKENS: attrgetter("output_tokens"),
    CACHE_READ_INPUT_TOKENS: attrgetter("cache_read_input_tokens"),
    CACHE_WRITE_INPUT_TOKENS: attrgetter("cache_creation_input_tokens"),
    REASONING_OUTPUT_TOKENS: attrgetter("thinking_tokens"),
}
"""Each token counter and the `TokenCounts` value it adds."""
if set(_COUNTED) != set(COUNTERS):  # a counter added in semconv must say what it counts
    raise RuntimeError("token counters and their values differ")
_MAX_CACHED_KEYS = 4096
_MAX_UNPRICED_LOGGED = 1024


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def metric_key(attrs: Mapping[str, AttributeValue], line: Any) -> MetricKey:
    """The attribute set of one call: its span attributes (`attrs`) and its `RecordLine`.

    The operation is the span's `gen_ai.operation.name`, else OpenLLMetry's request type,
    else `chat` (OpenInference LLM spans); the provider is the record's (normalized
    across producers)."""
    operation = _text(attrs.get(a.GEN_AI_OPERATION_NAME))
    if operation is None:
        request_type = attrs.get(a.OPENLLMETRY_REQUEST_TYPE)
        operation = a.OPENLLMETRY_REQUEST_TYPES.get(_text(request_type) or "", "chat")
    request_model = _text(attrs.get(a.GEN_AI_REQUEST_MODEL)) or line.model
    return (operation, line.provider, request_model, _text(attrs.get(a.GEN_AI_RESPONSE_MODEL)))


@dataclass(slots=True)
class _Priced:
    """Calls of one batch priced together: one attribute set, price and tier."""

    price: Price
    tokens: TokenCounts
    calls: int = 1


@dataclass(slots=True)
class _Instruments:
    provider: MeterProvider
    histogram: Histogram
    counters: tuple[Counter, ...]
    cost: Counter


class TokenMetrics:
    """Records the token metrics of calls on a `MeterProvider` (see the module docstring).

    `meter_provider=None` follows the global provider: while none is set (or a no-op one
    is) `active()` is False and callers skip the work entirely; once one is set, the next
    batch records on it. Instruments are created on first use. Not thread-safe: the
    exporter calls it under its own lock. `record` never raises; a failure is one
    throttled log line and never touches the session log.
    """

    def __init__(
        self, meter_provider: MeterProvider | None = None, prices: PriceBook | None = None
    ) -> None:
        self._given = meter_provider
        self._prices = prices
        self._instruments: _Instruments | None = None
        self._attributes: dict[MetricKey, tuple[dict[str, str], ...]] = {}
        self._unpriced: set[tuple[str, str]] = set()
        self._warn = ThrottledLogger(_log)
        if meter_provider is not None and not no_meter_provider_yet(meter_provider):
            # Metrics will be recorded: load the prices now, not with a first batch that
            # may leave only at interpreter exit, where imports can fail (a pydantic
            # plugin such as logfire's registers an atexit hook while genai-prices loads).
            self._preload()

    def _preload(self) -> None:
        prices = self._price_book()
        if prices is not None:
            preload_prices(prices)

    def active(self) -> bool:
        """True when a measurement would reach a real provider (cheap: once per batch).
        Never raises: a global provider that cannot be loaded counts as none."""
        try:
            given = self._given
            provider = given if given is not None else otel_metrics.get_meter_provider()
        except Exception as exc:  # noqa: BLE001 - OTEL_PYTHON_METER_PROVIDER may be broken
            self._warn.error("provider", "no meter provider for token metrics: %s", exc)
            return False
        return not no_meter_provider_yet(provider)

    def record(
        self, calls: Iterable[tuple[Mapping[str, AttributeValue], Any, SpanContext | None]]
    ) -> None:
        """Record the calls of one batch: (span attributes, `RecordLine`, span context).

        Histograms get one measurement per call (in the span's context, for exemplars);
        counters get one `add()` per attribute set for the whole batch."""
        try:
            self._record(calls)
        except Exception as exc:  # noqa: BLE001 - metrics must never cost the log
            self._warn.error("record", "token metrics not recorded: %s", exc, exc_info=True)

    def _record(
        self, calls: Iterable[tuple[Mapping[str, AttributeValue], Any, SpanContext | None]]
    ) -> None:
        instruments = self._resolve()
        if instruments is None:
            return
        record = instruments.histogram.record
        sums: dict[MetricKey, TokenCounts] = {}
        priced: dict[tuple[MetricKey, int, int], _Priced] = {}
        prices = self._price_book()
        for attrs, line, context in calls:
            key = metric_key(attrs, line)
            tokens = TokenCounts.of(line)
            _base, as_input, as_output = self._attribute_sets(key)
            # In the span's context, for exemplars -- unless the trace was not exported.
            span_context = (
                set_span_in_context(NonRecordingSpan(context))
                if context is not None and was_sampled(context)
                else None
            )
            record(tokens.prompt_tokens, as_input, span_context)
            record(tokens.output_tokens, as_output, span_context)
            total = sums.get(key)
            if total is None:
                sums[key] = tokens
            else:
                total.add(tokens)
            if prices is not None:
                try:
                    self._add_priced(priced, prices, key, line, tokens)
                except Exception as exc:  # noqa: BLE001 - the token counts must still count
                    prices = None
                    priced.clear()
                    self._warn.error(
                        "cost", "cost metric not recorded for a batch: no prices (%s)", exc
                    )
        for key, total in sums.items():
            base = self._attribute_sets(key)[0]
            for name, counter in zip(COUNTERS, instruments.counters, strict=True):
                counter.add(_COUNTED[name](total), base)
        for key, dollars in self._costs(priced).items():
            instruments.cost.add(dollars, self._attribute_sets(key)[0])

    def _resolve(self) -> _Instruments | None:
        provider = self._given if self._given is not None else otel_metrics.get_meter_provider()
        if no_meter_provider_yet(provider):
            return None
        instruments = self._instruments
        if instruments is not None and instruments.provider is provider:
            return instruments
        flush_before_metrics_at_exit(provider)
        meter = provider.get_meter(METER_NAME)
        histogram = meter.create_histogram(
            TOKEN_USAGE,
            unit=TOKEN_UNIT,
            description=DESCRIPTIONS[TOKEN_USAGE],
            explicit_bucket_boundaries_advisory=list(TOKEN_USAGE_BUCKETS),
        )
        counters = tuple(
            meter.create_counter(name, unit=TOKEN_UNIT, description=DESCRIPTIONS[name])
            for name in COUNTERS
        )
        cost = meter.create_counter(COST, unit=COST_UNIT, description=DESCRIPTIONS[COST])
        self._instruments = _Instruments(provider, histogram, counters, cost)
        return self._instruments

    def _attribute_sets(self, key: MetricKey) -> tuple[dict[str, str], ...]:
        found = self._attributes.get(key)
        if found is not None:
            return found
        if len(self._attributes) >= _MAX_CACHED_KEYS:
            self._attributes.clear()
        base = {name: value for name, value in zip(METRIC_ATTRIBUTES, key, strict=True) if value}
        sets = (
            base,
            {**base, a.GEN_AI_TOKEN_TYPE: TOKEN_TYPE_INPUT},
            {**base, a.GEN_AI_TOKEN_TYPE: TOKEN_TYPE_OUTPUT},
        )
        self._attributes[key] = sets
        return sets

    def _price_book(self) -> PriceBook | None:
        if self._prices is None:
            try:
                from otel_token_usage.pricing import PriceBook  # noqa: PLC0415 - 0.2 s, metrics only
            except ImportError as exc:  # pragma: no cover - genai-prices is a dependency
                self._warn.warning("prices", "no prices (%s); cost metric not recorded", exc)
                return None
            self._prices = PriceBook()
        return self._prices

    def _add_priced(
        self,
        priced: dict[tuple[MetricKey, int, int], _Priced],
        prices: PriceBook,
        key: MetricKey,
        line: Any,
        tokens: TokenCounts,
    ) -> None:
        # Calls of one batch priced together must share model, day and prompt-size tier:
        # within such a group every price is linear (see `otel_token_usage.pricing`).
        price = prices.price(line.provider, line.model, line.ts[:10])
        if price is None:
            self._log_unpriced(line.provider, line.model)
            return
        # prices are cached: their ids are stable
        group = (key, id(price), price.tier_of(tokens.prompt_tokens))
        found = priced.get(group)
        if found is None:
            priced[group] = _Priced(price, tokens + TokenCounts())  # a copy: `sums` has it
        else:
            found.tokens.add(tokens)
            found.calls += 1

    @staticmethod
    def _costs(priced: dict[tuple[MetricKey, int, int], _Priced]) -> dict[MetricKey, float]:
        costs: dict[MetricKey, float] = {}
        for (key, _price_id, tier), group in priced.items():
            dollars = float(group.price.cost(tier, group.tokens, group.calls))
            costs[key] = costs.get(key, 0.0) + dollars
        return costs

    def _log_unpriced(self, provider: str, model: str) -> None:
        unpriced = (provider, model)
        if unpriced in self._unpriced or len(self._unpriced) >= _MAX_UNPRICED_LOGGED:
            return
        self._unpriced.add(unpriced)
        _log.warning(
            "no price known for model %r of provider %r: its calls add nothing to %s "
            "(a price file can name it)",
            model,
            provider,
            COST,
        )


def preload_prices(prices: PriceBook | None = None) -> None:
    """Load genai-prices' bundled data now, while the application starts, not with a
    first batch that may leave only at interpreter exit, where imports can fail (a
    pydantic plugin such as logfire's starts threads as it loads). Never raises: a
    lookup later tries, and says, again."""
    try:
        if prices is None:
            from otel_token_usage.pricing import PriceBook  # noqa: PLC0415 - 0.2 s, metrics only

            prices = PriceBook()
        prices.preload()
    except Exception as exc:  # noqa: BLE001
        _warn.warning("preload", "could not load the price data yet: %s", exc)


# --- the exit flush: spans still queued at exit count in the metrics ---

_exit_lock = threading.Lock()
_exit_after: object | None = None  # the meter provider the exit flush was last placed after
_exit_flushers: weakref.WeakSet[Any] = weakref.WeakSet()


def flush_at_exit(processor: Any) -> None:
    """Have the exit flush (see `flush_before_metrics_at_exit`) flush `processor` too, not
    only the global tracer provider: a pipeline on a private tracer provider."""
    _exit_flushers.add(processor)


def flush_before_metrics_at_exit(provider: MeterProvider | None = None) -> bool:
    """Place the exit flush so that it runs before `provider` (default: the global meter
    provider) shuts down at exit; True once it is so placed, False while no real
    provider is set. Cheap when already placed: call it as often as needed.

    The SDK's providers (and `opentelemetry-instrument`'s) each register their shutdown
    at exit when they are built, and exit hooks run in reverse order. A tracer provider
    built before the meter provider is shut down after it, and its batch processors
    export their last spans to us only then: without this, their metrics would be
    recorded on a meter provider that is already shut down, and lost (the SDK says "A
    shutdown `MeterProvider` can not provide a `Meter`"). The flush is (re-)registered
    here, after the provider's own hook, so it runs first: it flushes every
    `TokenUsageSpanProcessor` and the global tracer provider while metrics can still be
    recorded. Callers: `TokenUsageSpanProcessor.on_end` on the application's first LLM
    span, the zero-code hooks once the SDK is set up, and the exporter's metrics at their
    first batch."""
    global _exit_after  # noqa: PLW0603 - one exit hook per process, by design
    if provider is None:
        provider = otel_metrics.get_meter_provider()
    if no_meter_provider_yet(provider):
        return False
    if _exit_after is provider:
        return True
    with _exit_lock:
        if _exit_after is not provider:
            atexit.unregister(_flush_at_exit)
            atexit.register(_flush_at_exit)
            _exit_after = provider
    return True


def _flush_at_exit() -> None:
    """At exit: write what our processors and the global tracer provider still hold."""
    for flushable in (*list(_exit_flushers), otel_trace.get_tracer_provider()):
        flush = getattr(flushable, "force_flush", None)
        if callable(flush):
            try:
                flush()
            except Exception as exc:  # noqa: BLE001 - at exit, nothing may raise
                _log.warning("token metrics: could not flush spans at exit: %s", exc)
