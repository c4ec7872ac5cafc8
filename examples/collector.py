"""Sending to the collector kit: `configure()` writes the session log and forwards traces
and token metrics over OTLP.

One call sets everything up (README, "Metrics and configure()"): the global tracer
provider with `SessionSpanProcessor`, the session log's `BatchSpanProcessor`, a second
`BatchSpanProcessor` with the SDK's OTLP span exporter, and a meter provider whose OTLP
reader carries the token counters, the `gen_ai.client.token.usage` histogram and the
cost. Three Anthropic calls of one session then go through `AnthropicInstrumentor`, and
`pipeline.shutdown()` writes the log first, then sends the rest.

Where it goes:

- `--endpoint URL` (or `OTEL_EXPORTER_OTLP_ENDPOINT`): a real collector, e.g. the kit in
  `collector-config/`, started with `docker compose up` there (see its README); then
  `--endpoint http://localhost:4318`. Protocol: `OTEL_EXPORTER_OTLP_PROTOCOL`, default
  `http/protobuf` (`grpc` goes to port 4317).
- Neither (the default): no collector is needed. A small OTLP/HTTP receiver is started
  in this process on 127.0.0.1 and stands in for one: it decodes what the SDK's
  exporters send and the example prints it, so you see exactly what a collector would
  get. It is not a collector: it keeps nothing and forwards nothing.

Run from the repository root: `python -m examples.collector [--sessions-dir DIR]
[--endpoint URL]`. Offline against the local fake provider unless `ANTHROPIC_API_KEY`
is set. Writes `DIR/collector/token-usage.jsonl`, replacing an earlier run's.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from anthropic.types import MessageParam, TextBlockParam
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from examples._common import (
    ANTHROPIC_MODEL,
    SYSTEM_PROMPT,
    anthropic_client,
    arguments,
    fresh_log,
    show_log,
)
from otel_token_usage import configure, session
from otel_token_usage.instrumentation.anthropic import AnthropicInstrumentor

SESSION = "collector"
SYSTEM: list[TextBlockParam] = [
    {"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
]
QUESTIONS = ("Plan the change.", "Which test first?", "Any risk?")
SHOWN_LABELS = ("gen_ai.response.model", "gen_ai.token.type")


class LocalReceiver:
    """An OTLP/HTTP (protobuf) endpoint on 127.0.0.1 that keeps what it is sent:
    `spans` as (name, attributes) and `points` as the latest value per metric and
    attribute set (the SDK sends cumulative totals)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, Any]]] = []
        self.points: dict[tuple[str, tuple[tuple[str, Any], ...]], float] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver._traces(ExportTraceServiceRequest.FromString(body))
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    receiver._metrics(ExportMetricsServiceRequest.FromString(body))
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per request would drown the example's output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        """The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _traces(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans += [(s.name, _attributes(s.attributes)) for s in scope.spans]

    def _metrics(self, request: ExportMetricsServiceRequest) -> None:
        with self._lock:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        kind = metric.WhichOneof("data")
                        points: Any = getattr(metric, kind).data_points if kind else ()
                        for point in points:
                            key = (
                                metric.name,
                                tuple(sorted(_attributes(point.attributes).items())),
                            )
                            value = point.sum if kind == "histogram" else _number(point)
                            self.points[key] = float(value)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        out[pair.key] = getattr(pair.value, kind) if kind else None
    return out


def _number(point: Any) -> float:
    return float(point.as_int if point.WhichOneof("value") == "as_int" else point.as_double)


def run(sessions_dir: Path, endpoint: str | None) -> tuple[Path, LocalReceiver | None]:
    """Make the calls through a `configure()`d pipeline; return the log's path and the
    local receiver (None when sending to a real endpoint)."""
    log = fresh_log(sessions_dir, SESSION)
    receiver = None if endpoint else LocalReceiver()
    pipeline = configure(
        sessions_dir,
        service_name="examples-collector",
        endpoint=endpoint or (receiver.endpoint if receiver else None),
        protocol=None if endpoint else "http/protobuf",
    )
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument()  # the global tracer provider, which configure() set
    try:
        with anthropic_client(open_telemetry=False) as client:
            messages: list[MessageParam] = []
            for question in QUESTIONS:
                messages.append({"role": "user", "content": question})
                with session(SESSION, message_count=len(messages)):
                    reply = client.messages.create(
                        model=ANTHROPIC_MODEL, max_tokens=256, system=SYSTEM, messages=messages
                    )
                text = "".join(block.text for block in reply.content if block.type == "text")
                messages.append({"role": "assistant", "content": text or "(no text)"})
    finally:
        instrumentor.uninstrument()
        pipeline.shutdown()  # the session log first, then traces and metrics
    return log, receiver


def show_received(receiver: LocalReceiver) -> None:
    """Print what the local receiver got, as a collector would have received it."""
    names = Counter(name for name, _ in receiver.spans)
    print(f"The collector would have received {len(receiver.spans)} spans:")
    for name, count in sorted(names.items()):
        print(f"  {count} x {name!r}")
    print("and these metric points (cumulative totals; for the histogram, its sum):")
    for (metric, attributes), value in sorted(receiver.points.items()):
        # The model and the token type tell the points apart here; the rest is the same.
        labels = ",".join(f"{k}={v}" for k, v in attributes if k in SHOWN_LABELS)
        shown = f"{value:.6f}" if metric.endswith(".cost") else f"{value:.0f}"
        print(f"  {metric} {{{labels}}} {shown}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m examples.collector`."""
    parser = arguments("Session log plus OTLP traces and metrics, through configure().")
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        help="OTLP endpoint of a collector (default: a local stand-in receiver)",
    )
    args = parser.parse_args(argv)
    log, receiver = run(args.sessions_dir, args.endpoint)
    show_log(log)
    if receiver is None:
        print(f"Traces and metrics went to {args.endpoint}.")
        return
    show_received(receiver)
    receiver.close()


if __name__ == "__main__":
    main()
