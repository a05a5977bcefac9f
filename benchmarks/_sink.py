"""OTLP endpoints (HTTP and gRPC) that answer every export with success, decoding nothing.

The benchmarks point exporters here when they measure the sending side: the exporter
pays for encoding and sending, while the receiving side costs next to nothing (a real
collector runs elsewhere; the embedded OTLPReceiver decodes every span in Python and
becomes the bottleneck). Run as a process; it prints its endpoints as one JSON line,
serves until its standard input closes, then prints how many exports it received::

    python -m benchmarks._sink
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc

SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}

received = {"exports": 0, "bytes": 0}
_lock = threading.Lock()


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        count(length)
        # An empty message is a valid Export*ServiceResponse: everything accepted.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return  # one line per export would cost more than the export


def count(size: int) -> None:
    with _lock:
        received["exports"] += 1
        received["bytes"] += size


def grpc_export(request: bytes, context: Any) -> bytes:
    count(len(request))
    return b""  # an empty Export*ServiceResponse: everything accepted


def grpc_server() -> tuple[grpc.Server, int]:
    # No (de)serializers: the handler gets the raw request bytes and never parses them.
    export = grpc.unary_unary_rpc_method_handler(grpc_export)
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(name, {"Export": export})
            for name in SERVICES.values()
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@contextlib.contextmanager
def running_sink() -> Iterator[dict[str, str]]:
    """Run the sink in a process of its own; yield its endpoints by protocol."""
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._sink"],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        with contextlib.suppress(Exception):
            process.communicate(timeout=10)
        if process.poll() is None:
            process.kill()


def main() -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), SinkHandler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    rpc, rpc_port = grpc_server()
    endpoints = {
        "http": f"http://127.0.0.1:{http.server_address[1]}",
        "grpc": f"http://127.0.0.1:{rpc_port}",
    }
    print(json.dumps(endpoints), flush=True)
    sys.stdin.read()  # until the parent closes our input (or exits)
    http.shutdown()
    rpc.stop(grace=None)
    print(f"{received['exports']} {received['bytes']}", flush=True)


if __name__ == "__main__":
    main()
