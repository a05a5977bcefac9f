"""OTLP/gRPC: the three Export services on one grpcio server.

The handlers take and return raw bytes (no serializers), so that decoding is shared
with OTLP/HTTP and the "garbage" mode can send bytes that are not a response.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc

from ._faults import GARBAGE, REFUSALS, RETRY_AFTER_S, FaultSwitch
from ._model import Receive, Signal
from ._wire import RETRY_INFO_KEY, export_response, header_dict, retry_info

SERVICES: dict[Signal, str] = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}

_OPTIONS = (
    # grpcio sets SO_REUSEPORT by default: a second server on a taken port would then
    # silently share it instead of failing.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)
_WORKERS = 8


class GrpcTransport:
    """A grpcio server bound to one loopback address."""

    def __init__(self, host: str, port: int, receive: Receive, faults: FaultSwitch) -> None:
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._receive = receive
        self._faults = faults
        self._executor = futures.ThreadPoolExecutor(
            _WORKERS, thread_name_prefix="otlp-receiver-grpc"
        )
        self._server = grpc.server(self._executor, handlers=self._handlers(), options=_OPTIONS)
        self.port = self._bind()
        self._server.start()

    def stop(self, grace_s: float = 0.2) -> None:
        """Cancel calls still running after ``grace_s``; hung ones must be released first."""
        self._server.stop(grace_s).wait(grace_s + 1.0)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _bind(self) -> int:
        try:
            port = int(self._server.add_insecure_port(self._address))
        except RuntimeError as exc:  # grpcio >= 1.55 raises; older ones return 0
            port, reason = 0, str(exc)
        else:
            reason = "address in use or not local"
        if port == 0:
            self._server.stop(None)
            self._executor.shutdown(wait=False)
            raise OSError(f"OTLP receiver cannot listen for gRPC on {self._address}: {reason}")
        return port

    def _handlers(self) -> list[Any]:
        return [
            grpc.method_handlers_generic_handler(
                service, {"Export": grpc.unary_unary_rpc_method_handler(self._exporter(signal))}
            )
            for signal, service in SERVICES.items()
        ]

    def _exporter(self, signal: Signal) -> Callable[[bytes, Any], bytes]:
        def export(payload: bytes, context: Any) -> bytes:
            headers = metadata_headers(context.invocation_metadata())
            mode = self._receive("grpc", signal, payload, headers)
            return self._answer(signal, mode, context)

        return export

    def _answer(self, signal: Signal, mode: str, context: Any) -> bytes:
        if mode == "ok":
            return export_response(signal)
        if mode == "garbage":
            # The client fails to parse it: what a broken proxy in front of a collector does.
            return GARBAGE
        if mode == "hang":
            self._faults.hang(client_waiting=context.is_active)
        if mode == "throttle":
            context.set_trailing_metadata(((RETRY_INFO_KEY, retry_info(RETRY_AFTER_S)),))
        refusal = REFUSALS[mode]
        context.abort(getattr(grpc.StatusCode, refusal.grpc_code), refusal.message)
        raise AssertionError("unreachable: grpc context.abort() raises")


def metadata_headers(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    """gRPC metadata as headers: binary (``-bin``) values in base64, as on the wire."""
    return header_dict(
        (key, value if isinstance(value, str) else base64.b64encode(value).decode("ascii"))
        for key, value in metadata
    )
