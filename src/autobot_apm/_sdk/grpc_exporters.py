"""The SDK's OTLP gRPC exporters, each export kept apart from forks (see :mod:`.grpc_fork`).

Imported only when the gRPC protocol is configured: importing grpc costs start-up time
that HTTP users should not pay.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from . import grpc_fork


class _KeptApartFromForks:
    """Exports and the channel's close run inside the fork gate: both call into gRPC."""

    def export(self, *args: Any, **kwargs: Any) -> Any:
        with grpc_fork.GATE:
            return super().export(*args, **kwargs)  # type: ignore[misc]

    def shutdown(self, *args: Any, **kwargs: Any) -> Any:
        with grpc_fork.GATE:
            return super().shutdown(*args, **kwargs)  # type: ignore[misc]


class GrpcSpanExporter(_KeptApartFromForks, OTLPSpanExporter):
    """OTLP/gRPC span export that a fork never interrupts."""


class GrpcMetricExporter(_KeptApartFromForks, OTLPMetricExporter):
    """OTLP/gRPC metric export that a fork never interrupts."""


class GrpcLogExporter(_KeptApartFromForks, OTLPLogExporter):
    """OTLP/gRPC log export that a fork never interrupts."""
