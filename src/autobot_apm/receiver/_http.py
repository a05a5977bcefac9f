"""OTLP/HTTP (binary protobuf): POST /v1/traces, /v1/metrics and /v1/logs.

Connections are kept alive as a real collector does; the server tracks them so that
``stop()`` can close idle and hung ones at once instead of waiting for clients.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._faults import GARBAGE, REFUSALS, RETRY_AFTER_S, FaultSwitch
from ._model import Receive, Signal
from ._wire import export_response, header_dict, status_body

PATHS: dict[str, Signal] = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
PROTOBUF = "application/x-protobuf"
MAX_BODY = 64 * 1024 * 1024  # bytes, compressed or not; the exporters' default cap


class HttpTransport:
    """A threading HTTP server on a daemon thread, bound to one loopback address."""

    def __init__(self, host: str, port: int, receive: Receive, faults: FaultSwitch) -> None:
        try:
            self._server = _Server(host, port, receive, faults)
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            message = f"OTLP receiver cannot listen for HTTP on {where}: {exc.strerror}"
            raise OSError(exc.errno, message) from None
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="otlp-receiver-http", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop accepting, close every open connection, wait briefly for handlers."""
        self._server.shutdown()
        self._server.close_connections(timeout_s)
        self._server.server_close()
        self._thread.join(timeout_s)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, receive: Receive, faults: FaultSwitch) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.receive = receive
        self.faults = faults
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _ExportHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take seconds on a
        # machine with slow DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = (
            str(self.server_address[0]),
            int(self.server_address[1]),
        )

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), daemon=True
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def close_connections(self, timeout_s: float) -> None:
        with self._connections_lock:
            connections = list(self._connections.items())
        for connection, _ in connections:
            # Wakes a handler blocked reading; its handler may have closed it already.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout_s
        for _, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, shutdown) is normal here, not worth a traceback.
        if not isinstance(sys.exception(), ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Rejected(Exception):  # noqa: N818 (control flow inside the handler, not an error type)
    """An export request answered with an HTTP error before it reaches the receiver."""

    def __init__(self, status: int, message: str, *, stream_lost: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.stream_lost = stream_lost  # the request's end is unknown: close the connection


class _ExportHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as exporters expect of a collector
    server_version = "autobot-apm-receiver"
    timeout = 60  # seconds an idle kept-alive connection holds a thread
    server: _Server

    def do_POST(self) -> None:
        try:
            signal, payload = self._read_export()
        except _Rejected as rejected:
            self.close_connection = self.close_connection or rejected.stream_lost
            self._reply(rejected.status, str(rejected).encode(), "text/plain")
            return
        mode = self.server.receive("http", signal, payload, header_dict(self.headers.items()))
        self._answer(signal, mode)

    def do_GET(self) -> None:
        """Exporters only POST; a GET is someone probing the port (a browser, curl)."""
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_export(self) -> tuple[Signal, bytes]:
        body = self._read_body()  # first, so that the connection stays usable after an error
        signal = PATHS.get(self.path.partition("?")[0])
        if signal is None:
            raise _Rejected(404, f"no OTLP signal at {self.path}; use {', '.join(PATHS)}")
        if self.headers.get_content_type() != PROTOBUF:
            raise _Rejected(415, f"expected Content-Type {PROTOBUF}")
        return signal, self._decompress(body)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise _Rejected(411, "Content-Length required", stream_lost=True)
        if int(length) > MAX_BODY:
            raise _Rejected(413, "request body too large", stream_lost=True)
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            raise ConnectionAbortedError("client closed the connection mid-request")
        return body

    def _decompress(self, body: bytes) -> bytes:
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding == "identity":
            return body
        if encoding not in {"gzip", "deflate"}:
            raise _Rejected(415, f"unsupported Content-Encoding {encoding}")
        inflater = zlib.decompressobj(wbits=47)  # 32 + 15: accepts gzip and zlib framing
        try:
            payload = inflater.decompress(body, MAX_BODY)
        except zlib.error:
            raise _Rejected(400, f"malformed {encoding} body") from None
        if inflater.unconsumed_tail:
            raise _Rejected(413, "request body too large once decompressed")
        return payload

    def _answer(self, signal: Signal, mode: str) -> None:
        if mode in {"ok", "garbage"}:
            self._reply(200, export_response(signal) if mode == "ok" else GARBAGE)
            return
        if mode == "hang":
            self.server.faults.hang(client_waiting=self._client_connected)
            self.close_connection = True
        refusal = REFUSALS[mode]
        retry_after = RETRY_AFTER_S if mode == "throttle" else None
        body = status_body(refusal.grpc_number, refusal.message)
        self._reply(refusal.http_status, body, retry_after=retry_after)

    def _reply(
        self, status: int, body: bytes, content_type: str = PROTOBUF, retry_after: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _client_connected(self) -> bool:
        """False once the client closed its end (it gave up waiting) or stop() closed ours."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return True
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK))
        except OSError:
            return False

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test run should not print one line per export."""
