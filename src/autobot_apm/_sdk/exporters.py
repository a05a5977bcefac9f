"""Exporters chosen by the resolved settings: OTLP (gRPC or HTTP), console, or none.

Only values given as arguments are passed to the OTLP exporters. Values that came from the
environment are left to the exporters, which also read the per-signal variables
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``..._CERTIFICATE``...) that we do not re-implement.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter

from .settings import Settings

SIGNAL_ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
CERTIFICATE_VARIABLES = {
    "traces": ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
    "metrics": ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
    "logs": ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
}


def exporter_kind(settings: Settings) -> str:
    """otlp when asked for or when any endpoint is set; otherwise the console view."""
    if settings.exporter is not None:
        return str(settings.exporter)
    has_signal_endpoint = any(os.environ.get(name) for name in SIGNAL_ENDPOINT_VARIABLES)
    return "otlp" if settings.endpoint or has_signal_endpoint else "console"


def span_exporter(settings: Settings) -> SpanExporter | None:
    kind = exporter_kind(settings)
    if kind == "none":
        return None
    if kind == "console":
        from .console import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if settings.protocol == "grpc":
        from .grpc_exporters import GrpcSpanExporter

        return GrpcSpanExporter(**_grpc_arguments(settings))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(**_http_arguments(settings, "traces"))


def metric_exporter(settings: Settings) -> MetricExporter | None:
    kind = exporter_kind(settings)
    if kind == "none":
        return None
    if kind == "console":
        from .console import ConsoleMetricExporter

        return ConsoleMetricExporter()
    if settings.protocol == "grpc":
        from .grpc_exporters import GrpcMetricExporter

        return GrpcMetricExporter(**_grpc_arguments(settings))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HTTPMetricExporter,
    )

    return HTTPMetricExporter(**_http_arguments(settings, "metrics"))


def _from_arguments(settings: Settings) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if settings.sources["headers"] == "argument":
        given["headers"] = dict(settings.headers)
    if settings.sources["timeout"] == "argument":
        given["timeout"] = settings.timeout
    return given


def _grpc_arguments(settings: Settings) -> dict[str, Any]:
    given = _from_arguments(settings)
    if "headers" in given:
        # gRPC metadata keys must be lower-case; grpcio rejects "X-Api-Key" outright.
        given["headers"] = {key.lower(): value for key, value in given["headers"].items()}
    if settings.sources["endpoint"] == "argument":
        given["endpoint"] = settings.endpoint
        # The gRPC exporter takes security from the scheme only when told nothing else.
        given["insecure"] = str(settings.endpoint).startswith("http://")
    return given


def _http_arguments(settings: Settings, signal: str) -> dict[str, Any]:
    given = _from_arguments(settings)
    if settings.sources["endpoint"] == "argument":
        given["endpoint"] = f"{str(settings.endpoint).rstrip('/')}/v1/{signal}"
    variables = CERTIFICATE_VARIABLES.get(signal, ("OTEL_EXPORTER_OTLP_CERTIFICATE",))
    if any(os.environ.get(name) for name in variables):
        given["session"] = _session_keeping_its_ca()
    return given


def _session_keeping_its_ca() -> Any:
    """A requests session whose CA file wins over REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE.

    requests lets those variables replace ``Session.verify`` (psf/requests#3829): on the
    many machines that set them, OTEL_EXPORTER_OTLP_CERTIFICATE would be ignored and
    every export to a collector with a private CA would fail.
    """
    import requests

    class Session(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("verify", self.verify)
            return super().request(*args, **kwargs)

    return Session()
