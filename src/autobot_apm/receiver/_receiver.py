"""OTLPReceiver: an in-process OTLP collector stand-in for tests and the demo."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from ._decode import MalformedRequestError, decode_request
from ._faults import FaultSwitch
from ._grpc import GrpcTransport
from ._http import HttpTransport
from ._model import (
    Protocol,
    ReceivedLog,
    ReceivedMetric,
    ReceivedPoint,
    ReceivedRequest,
    ReceivedSpan,
    Signal,
)
from ._store import TelemetryStore, wait_condition


class OTLPReceiver:
    """Receive OTLP over gRPC and HTTP on loopback and keep what arrives.

    Example::

        with OTLPReceiver() as rx:
            exporter = OTLPSpanExporter(endpoint=rx.grpc_endpoint, insecure=True)
            ...  # export spans
            (span,) = rx.wait_for_spans(1)

    Setting :attr:`mode` makes it fail the way collectors do. Only requests answered
    in mode "ok" are kept, but every request is listed in :attr:`requests`. A stopped
    receiver can be started again and listens on the same ports (a collector restart).

    ``on_spans`` is called, on a transport thread, with the spans of each request
    answered "ok"; ``keep=False`` keeps nothing, for a long-running receiver that only
    listens (``autobot-apm serve``). It binds loopback only, unless ``allow_remote``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        grpc: bool = True,
        http: bool = True,
        grpc_port: int = 0,
        http_port: int = 0,
        on_spans: Callable[[Sequence[ReceivedSpan]], None] | None = None,
        keep: bool = True,
        allow_remote: bool = False,
    ) -> None:
        self._host = host if allow_remote else _loopback(host)
        self._on_spans = on_spans
        self._keep = keep
        if not (grpc or http):
            raise ValueError("OTLPReceiver needs gRPC, HTTP or both enabled")
        self._ports = {"grpc": grpc_port if grpc else None, "http": http_port if http else None}
        self._faults = FaultSwitch()
        self._store = TelemetryStore(lambda: self._faults.mode)
        self._lifecycle = threading.Lock()
        self._grpc: GrpcTransport | None = None
        self._http: HttpTransport | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        """Listen on both protocols; a no-op while already running."""
        with self._lifecycle:
            if self._grpc is None and self._http is None:
                self._faults.open()
                try:
                    self._start_transports()
                except BaseException:
                    self._stop_transports()
                    raise
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection, hung ones included (well under 2 s)."""
        with self._lifecycle:
            self._stop_transports()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_transports(self) -> None:
        if (port := self._ports["grpc"]) is not None:
            self._grpc = GrpcTransport(self._host, port, self._receive, self._faults)
            self._ports["grpc"] = self._grpc.port
        if (port := self._ports["http"]) is not None:
            self._http = HttpTransport(self._host, port, self._receive, self._faults)
            self._ports["http"] = self._http.port

    def _stop_transports(self) -> None:
        self._faults.close()  # first: a hung request must not hold up either server
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop()
            self._grpc = None

    # --- where to send -------------------------------------------------------------

    @property
    def grpc_endpoint(self) -> str:
        """``http://host:port``, as OTLPSpanExporter(endpoint=..., insecure=True) takes it."""
        return self._endpoint("grpc")

    @property
    def http_endpoint(self) -> str:
        """Base URL; exporters post to ``{http_endpoint}/v1/traces`` (metrics, logs)."""
        return self._endpoint("http")

    def _endpoint(self, protocol: Protocol) -> str:
        port = self._ports[protocol]
        if port is None:
            raise RuntimeError(f"this OTLPReceiver was created with {protocol}=False")
        if port == 0:
            raise RuntimeError("OTLPReceiver has no port yet: call start() first")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{port}"

    # --- fault injection -----------------------------------------------------------

    @property
    def mode(self) -> str:
        """The fault mode; each request is answered by the mode it arrived in.

        - "ok": accept and keep (the default);
        - "unavailable": HTTP 503, gRPC UNAVAILABLE (a collector down or restarting);
        - "error": HTTP 500, gRPC INTERNAL;
        - "throttle": HTTP 429 with Retry-After: 1, gRPC RESOURCE_EXHAUSTED with RetryInfo 1 s;
        - "hang": never answer until the mode changes or stop(), then as "unavailable";
        - "garbage": HTTP 200 or gRPC OK with a body that is not protobuf.
        """
        return self._faults.mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._faults.mode = mode

    # --- what arrived --------------------------------------------------------------

    @property
    def spans(self) -> list[ReceivedSpan]:
        return self._store.spans()

    @property
    def metrics(self) -> list[ReceivedMetric]:
        return self._store.metrics()

    @property
    def logs(self) -> list[ReceivedLog]:
        return self._store.logs()

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self._store.requests()

    def clear(self) -> None:
        """Forget every record and request (the mode is kept)."""
        self._store.clear()

    def find_spans(self, name: str | None = None, **attributes: Any) -> list[ReceivedSpan]:
        """Spans with this name (any if None) whose attributes include ``attributes``.

        Dotted keys go through a mapping: ``find_spans("GET /", **{"http.route": "/"})``.
        """
        return self._store.find_spans(name, attributes)

    def metric_points(self, name: str) -> list[ReceivedPoint]:
        """Every point of metric ``name``, from every export, in arrival order."""
        return self._store.metric_points(name)

    def latest_metric_points(self, name: str) -> list[ReceivedPoint]:
        """One point per attribute set: the one from the last export that carried it."""
        return self._store.latest_metric_points(name)

    # --- waiting -------------------------------------------------------------------

    def wait_for_spans(
        self, predicate: Callable[[list[ReceivedSpan]], bool] | int, timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """Wait until ``predicate(spans)`` holds, or at least that many spans arrived."""
        ready, wanted = wait_condition(predicate, "spans")
        return self._store.wait(self._store.spans, ready, wanted, timeout)

    def wait_for_metrics(
        self, predicate: Callable[[list[ReceivedMetric]], bool] | str | int, timeout: float = 10.0
    ) -> list[ReceivedMetric]:
        """Wait for ``predicate(metrics)``, a metric of that name, or that many metric records."""
        if isinstance(predicate, str):
            name = predicate
            ready, wanted = wait_condition(lambda ms: any(m.name == name for m in ms), "")
            wanted = f"metric {name!r}"
        else:
            ready, wanted = wait_condition(predicate, "metric records")
        return self._store.wait(self._store.metrics, ready, wanted, timeout)

    def wait_for_logs(
        self, predicate: Callable[[list[ReceivedLog]], bool] | int, timeout: float = 10.0
    ) -> list[ReceivedLog]:
        """Wait until ``predicate(logs)`` holds, or at least that many log records arrived."""
        ready, wanted = wait_condition(predicate, "log records")
        return self._store.wait(self._store.logs, ready, wanted, timeout)

    # --- called by both transports, on their threads ------------------------------

    def _receive(
        self, protocol: Protocol, signal: Signal, payload: bytes, headers: dict[str, str]
    ) -> str:
        """Keep one request (and its content, in mode "ok"); return the mode that answers it."""
        mode = self._faults.mode
        try:
            batch = decode_request(signal, payload, protocol)
        except MalformedRequestError:
            if self._keep:
                self._store.add(ReceivedRequest(protocol, signal, headers, 0, "invalid"), None)
            return "invalid"
        if self._on_spans is not None and mode == "ok" and batch.spans:
            self._on_spans(batch.spans)
        if self._keep:
            request = ReceivedRequest(protocol, signal, headers, batch.item_count, mode)
            self._store.add(request, batch if mode == "ok" else None)
        return mode

    def __repr__(self) -> str:
        ports = ", ".join(
            f"{name}={port}" for name, port in self._ports.items() if port is not None
        )
        return f"OTLPReceiver({self._host}, {ports}, mode={self.mode!r})"


def _loopback(host: str) -> str:
    """The receiver only ever listens on loopback: telemetry must not leave the machine."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"OTLPReceiver host must be a loopback address (127.x.y.z or ::1), not {host!r}"
        )
    return host
