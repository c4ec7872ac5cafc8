"""The HTTP side of the fake provider: a threading server on loopback that writes plans out."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ._engine import Engine, Plan
from ._wire import json_bytes

logger = logging.getLogger(__name__)


class FakeHTTPServer(ThreadingHTTPServer):
    """A `ThreadingHTTPServer` that hands requests to an `Engine` and can drop its clients."""

    daemon_threads = True

    def __init__(self, engine: Engine, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.engine = engine
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up (an abandoned stream, a closed keep-alive pool) is normal.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def drop_connections(self) -> None:
        """Shut down every open client connection, so idle keep-alive threads end now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; with Nagle's algorithm the second
        # waits for the client's delayed ACK, adding ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        # Tests start many servers; one line per request on stderr would drown their output.
        return

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            plan = self.server.engine.handle(
                self.command, self.path, dict(self.headers.items()), raw
            )
        except Exception as err:
            # A bug in the fake must fail the test loudly, not look like a network problem.
            logger.exception("fake provider failed on %s %s", self.command, self.path)
            message = f"fake provider failed: {err!r}"
            body = {"type": "error", "error": {"type": "api_error", "message": message}}
            plan = Plan(500, (("content-type", "application/json"),), json_bytes(body))
        try:
            if plan.events is None:
                self._write_body(plan)
            else:
                self._write_stream(plan)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (an abandoned stream): nothing left to tell it.
            self.close_connection = True

    def _start(self, plan: Plan) -> None:
        self.send_response(plan.status)
        for name, value in plan.headers:
            self.send_header(name, value)

    def _write_body(self, plan: Plan) -> None:
        self._start(plan)
        self.send_header("content-length", str(len(plan.body)))
        self.end_headers()
        self.wfile.write(plan.body)

    def _write_stream(self, plan: Plan) -> None:
        self._start(plan)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in plan.events or ():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event.payload), event.payload))
        if plan.cut_after is not None:
            # Closing without the terminating chunk is what a dropped upstream looks like:
            # the client sees an incomplete chunked body, not a clean end of stream.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")
