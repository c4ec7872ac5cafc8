"""A real OTLP receiver on 127.0.0.1 for the tests: HTTP/protobuf and gRPC.

Both decode `ExportTraceServiceRequest` / `ExportMetricsServiceRequest` with
`opentelemetry-proto` and keep them for assertions. A receiver can also misbehave on
purpose: `refuse` (HTTP 503, gRPC UNAVAILABLE), `hang` (hold each request until
`release()` or its own bound), or -- `GarbageServer` -- answer every connection with
bytes that are neither HTTP nor HTTP/2. `dead_endpoint()` is a port nobody listens on.
"""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

Mode = Literal["ok", "refuse", "hang"]
MetricsRequest = metrics_service_pb2.ExportMetricsServiceRequest
TraceRequest = trace_service_pb2.ExportTraceServiceRequest
HANG_BOUND_S = 30.0
"""A hanging handler gives up after this long even if never released."""


class _Store:
    """What arrived, and how to behave; thread-safe."""

    def __init__(self, mode: Mode = "ok") -> None:
        self.mode: Mode = mode
        self.metrics: list[MetricsRequest] = []
        self.traces: list[TraceRequest] = []
        self.attempts = 0
        self.in_flight = 0  # requests being held right now (`hang`)
        self.headers: list[dict[str, str]] = []  # request headers / gRPC metadata, lowercased
        self._released = threading.Event()
        self._changed = threading.Condition()

    def release(self) -> None:
        """Let hanging requests finish (and later ones not hang)."""
        self._released.set()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        """Block until `predicate()` holds after an arrival, or `timeout` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def _attempt(self, headers: Iterable[tuple[str, str]] = ()) -> Mode:
        with self._changed:
            self.headers.append({key.lower(): value for key, value in headers})
            self.attempts += 1
            self.in_flight += 1
            self._changed.notify_all()
        try:
            if self.mode == "hang":
                self._released.wait(HANG_BOUND_S)
            return self.mode
        finally:
            with self._changed:
                self.in_flight -= 1

    def _keep(self, request: MetricsRequest | TraceRequest) -> None:
        with self._changed:
            if isinstance(request, MetricsRequest):
                self.metrics.append(request)
            else:
                self.traces.append(request)
            self._changed.notify_all()


class HttpReceiver(_Store):
    """OTLP/HTTP with protobuf bodies at `/v1/traces` and `/v1/metrics`."""

    def __init__(self, mode: Mode = "ok") -> None:
        super().__init__(mode)
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if store._attempt(self.headers.items()) == "refuse":
                    self.send_error(503, "refusing on purpose")
                    return
                reply: Any
                if self.path == "/v1/metrics":
                    store._keep(MetricsRequest.FromString(body))
                    reply = metrics_service_pb2.ExportMetricsServiceResponse()
                elif self.path == "/v1/traces":
                    store._keep(TraceRequest.FromString(body))
                    reply = trace_service_pb2.ExportTraceServiceResponse()
                else:
                    self.send_error(404)
                    return
                data = reply.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a hanging request: expected, not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """Base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


class GrpcReceiver(_Store):
    """OTLP/gRPC: the real `TraceService` and `MetricsService`, served by grpcio."""

    def __init__(self, mode: Mode = "ok") -> None:
        super().__init__(mode)
        store = self

        def answer(request: Any, context: Any, reply: Any) -> Any:
            metadata = [(item.key, item.value) for item in context.invocation_metadata()]
            if store._attempt(metadata) == "refuse":
                context.abort(grpc.StatusCode.UNAVAILABLE, "refusing on purpose")
            store._keep(request)
            return reply

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: TraceRequest, context: Any) -> Any:
                return answer(request, context, trace_service_pb2.ExportTraceServiceResponse())

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: MetricsRequest, context: Any) -> Any:
                reply = metrics_service_pb2.ExportMetricsServiceResponse()
                return answer(request, context, reply)

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self._server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
            Metrics(), self._server
        )
        self._port: int = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()

    @property
    def endpoint(self) -> str:
        """`http://` marks the channel insecure for the SDK's gRPC exporters."""
        return f"http://127.0.0.1:{self._port}"

    def close(self) -> None:
        self.release()
        self._server.stop(grace=None)


class GarbageServer:
    """Accepts connections and answers each with bytes no OTLP client can parse."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with self._changed:
                self.connections += 1
                self._changed.notify_all()
            with connection:
                connection.settimeout(1.0)
                try:
                    connection.recv(65536)
                    connection.sendall(b"\x00\xffNOT-OTLP garbage \x13\x37\r\n\r\n" * 8)
                except OSError:
                    pass

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        """Block until `predicate()` holds after a connection, or `timeout` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def close(self) -> None:
        self._closed = True
        self._socket.close()


def dead_endpoint() -> str:
    """A 127.0.0.1 URL whose port was just free: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- decoding what arrived ---


def value_of(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind is not None else None


def attributes_of(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


@dataclass(frozen=True)
class Point:
    """One data point as it arrived, with its metric's name, unit and temporality."""

    metric: str
    unit: str
    kind: str  # "sum" or "histogram"
    temporality: int  # AggregationTemporality proto value: 1 delta, 2 cumulative
    attributes: dict[str, Any]
    value: float  # sum value, or histogram sum
    count: int = 0
    bounds: tuple[float, ...] = ()
    exemplar_trace_ids: tuple[str, ...] = field(default=())
    service_name: str | None = None


def points(requests: Iterable[MetricsRequest]) -> Iterator[Point]:
    """Every data point of every request, in arrival order."""
    for request in requests:
        for resource_metrics in request.resource_metrics:
            service = attributes_of(resource_metrics.resource.attributes).get("service.name")
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    if kind == "sum":
                        for sp in metric.sum.data_points:
                            number = (
                                sp.as_int if sp.WhichOneof("value") == "as_int" else sp.as_double
                            )
                            yield Point(
                                metric.name,
                                metric.unit,
                                "sum",
                                metric.sum.aggregation_temporality,
                                attributes_of(sp.attributes),
                                number,
                                service_name=service,
                            )
                    elif kind == "histogram":
                        for hp in metric.histogram.data_points:
                            yield Point(
                                metric.name,
                                metric.unit,
                                "histogram",
                                metric.histogram.aggregation_temporality,
                                attributes_of(hp.attributes),
                                hp.sum,
                                hp.count,
                                tuple(hp.explicit_bounds),
                                tuple(e.trace_id.hex() for e in hp.exemplars),
                                service_name=service,
                            )


def spans(requests: Iterable[TraceRequest]) -> Iterator[tuple[Span, dict[str, Any]]]:
    """Every span that arrived, with its attributes decoded."""
    for request in requests:
        for resource_spans in request.resource_spans:
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    yield span, attributes_of(span.attributes)
