"""Bytes the receiver answers with: export responses and error details."""

from __future__ import annotations

from collections.abc import Iterable

from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

# Every accepted request is answered with an empty response: no partial success.
_RESPONSES: dict[str, bytes] = {
    "traces": ExportTraceServiceResponse().SerializeToString(),
    "metrics": ExportMetricsServiceResponse().SerializeToString(),
    "logs": ExportLogsServiceResponse().SerializeToString(),
}

RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


def header_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers keyed by lower-case name; repeated headers joined by ", " as HTTP allows."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def export_response(signal: str) -> bytes:
    return _RESPONSES[signal]


def status_body(grpc_number: int, message: str) -> bytes:
    """The google.rpc.Status body OTLP/HTTP puts in an error response."""
    return bytes(Status(code=grpc_number, message=message).SerializeToString())


def retry_info(seconds: int) -> bytes:
    """The gRPC trailer by which a throttling server says how long to back off."""
    info = RetryInfo()
    info.retry_delay.seconds = seconds
    return bytes(info.SerializeToString())
