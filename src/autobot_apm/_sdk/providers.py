"""The SDK providers configure() builds when the application has none: resource, tracer
provider (batching, counted export) and meter provider (periodic push, optional pull)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling as otel_sampling

from . import exporters as _exporters
from . import health as _health
from .settings import Settings


def build_resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = {}
    if settings.service_name:
        attributes["service.name"] = settings.service_name
    if settings.service_version:
        attributes["service.version"] = settings.service_version
    if settings.environment:
        attributes["deployment.environment.name"] = settings.environment
    attributes.update(settings.resource_attributes)
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME underneath.
    return Resource.create(attributes)


def build_tracer_provider(settings: Settings, resource: Resource) -> TracerProvider:
    # Our own atexit hook shuts down within a cap; the SDK's would wait out retries.
    provider = TracerProvider(resource=resource, sampler=_sampler(settings), shutdown_on_exit=False)
    processor = build_span_processor(settings)
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def build_span_processor(settings: Settings) -> _health.CountingBatchSpanProcessor | None:
    """The batch processor and exporter of the settings; None when nothing is exported."""
    exporter = _exporters.span_exporter(settings)
    if exporter is None:
        return None
    return _health.CountingBatchSpanProcessor(
        _health.CountingSpanExporter(exporter),
        max_queue_size=settings.span_queue_size,
        max_export_batch_size=min(settings.span_batch_size, settings.span_queue_size),
        schedule_delay_millis=_schedule_delay(settings) * 1000,
        export_timeout_millis=settings.timeout * 1000,
    )


def _schedule_delay(settings: Settings) -> float:
    # On the console a trace should appear as its request finishes; printing still happens
    # on the export thread, never on the request path.
    delay_is_default = settings.sources["span_schedule_delay"] == "default"
    if _exporters.exporter_kind(settings) == "console" and delay_is_default:
        return 0.2
    return float(settings.span_schedule_delay)


def build_meter_provider(settings: Settings, resource: Resource) -> MeterProvider:
    exporter = _exporters.metric_exporter(settings)
    readers: list[MetricReader] = []
    if exporter is not None:
        readers.append(
            PeriodicExportingMetricReader(
                _health.CountingMetricExporter(exporter),
                export_interval_millis=settings.metric_export_interval * 1000,
                export_timeout_millis=settings.timeout * 1000,
            )
        )
    if settings.prometheus is not None:
        # Pulled by Prometheus, independently of the push exporter above; its HTTP
        # server stops when this provider shuts down. Imported only now: the standard
        # library's WSGI server (http.server, the email package) is a noticeable share of
        # ``import autobot_apm``, and few applications turn the endpoint on.
        from .prometheus import prometheus_reader

        reader = prometheus_reader(settings.prometheus)
        if reader is not None:
            readers.append(reader)
    return MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)


def _sampler(settings: Settings) -> otel_sampling.Sampler:
    ratio = settings.sample_ratio
    factories: dict[str, Callable[[], otel_sampling.Sampler]] = {
        "always_on": lambda: otel_sampling.ALWAYS_ON,
        "always_off": lambda: otel_sampling.ALWAYS_OFF,
        "traceidratio": lambda: otel_sampling.TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: otel_sampling.ParentBased(otel_sampling.ALWAYS_ON),
        "parentbased_always_off": lambda: otel_sampling.ParentBased(otel_sampling.ALWAYS_OFF),
        "parentbased_traceidratio": lambda: otel_sampling.ParentBased(
            otel_sampling.TraceIdRatioBased(ratio)
        ),
    }
    return factories[settings.traces_sampler]()
