"""Decode OTLP metrics: one record per metric per export, points by kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar, Metric

from ._model import Batch, Protocol, ReceivedExemplar, ReceivedMetric, ReceivedPoint
from ._values import decode_attributes, hex_id

# Index = the protobuf AggregationTemporality number.
TEMPORALITIES = ("unspecified", "delta", "cumulative")


def decode_metrics_request(payload: bytes, protocol: Protocol) -> Batch:
    request = ExportMetricsServiceRequest.FromString(payload)
    metrics: list[ReceivedMetric] = []
    for resource_metrics in request.resource_metrics:
        resource = decode_attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            metrics.extend(
                decode_metric(metric, dict(resource), scope, protocol)
                for metric in scope_metrics.metrics
            )
    return Batch(metrics=tuple(metrics))


def decode_metric(
    metric: Metric, resource: dict[str, Any], scope: str, protocol: Protocol
) -> ReceivedMetric:
    kind = metric.WhichOneof("data") or "empty"
    data: Any = getattr(metric, kind, None)
    decode_point = _POINT_DECODERS.get(kind)
    points = tuple(map(decode_point, data.data_points)) if decode_point else ()
    # Gauges and summaries have no temporality; only sums say whether they are monotonic.
    temporality = getattr(data, "aggregation_temporality", 0)
    return ReceivedMetric(
        name=metric.name,
        description=metric.description,
        unit=metric.unit,
        kind=kind,
        monotonic=bool(getattr(data, "is_monotonic", False)),
        temporality=TEMPORALITIES[temporality] if temporality < 3 else "unspecified",
        resource=resource,
        scope=scope,
        points=points,
        protocol=protocol,
    )


def _number_point(point: Any) -> ReceivedPoint:
    return ReceivedPoint(
        **_common_fields(point),
        value=_number(point),
        exemplars=_exemplars(point.exemplars),
    )


def _histogram_point(point: Any) -> ReceivedPoint:
    return ReceivedPoint(
        **_common_fields(point),
        **_count_sum_min_max(point),
        bucket_counts=tuple(point.bucket_counts),
        explicit_bounds=tuple(point.explicit_bounds),
        exemplars=_exemplars(point.exemplars),
    )


def _exponential_histogram_point(point: Any) -> ReceivedPoint:
    # Scale and offset buckets are left out: tests of this library check count and sum.
    return ReceivedPoint(
        **_common_fields(point),
        **_count_sum_min_max(point),
        exemplars=_exemplars(point.exemplars),
    )


def _summary_point(point: Any) -> ReceivedPoint:
    return ReceivedPoint(**_common_fields(point), count=point.count, sum=point.sum)


def _common_fields(point: Any) -> dict[str, Any]:
    return {
        "attributes": decode_attributes(point.attributes),
        "time_ns": point.time_unix_nano,
        "start_time_ns": point.start_time_unix_nano,
    }


def _count_sum_min_max(point: Any) -> dict[str, Any]:
    # sum, min and max are optional fields: unset differs from zero.
    optional = {
        name: getattr(point, name) if point.HasField(name) else None
        for name in ("sum", "min", "max")
    }
    return {"count": point.count, **optional}


def _number(point: Any) -> int | float | None:
    which = point.WhichOneof("value")
    return None if which is None else getattr(point, which)


def _exemplars(exemplars: list[Exemplar]) -> tuple[ReceivedExemplar, ...]:
    return tuple(_exemplar(exemplar) for exemplar in exemplars)


def _exemplar(exemplar: Exemplar) -> ReceivedExemplar:
    value = _number(exemplar)
    trace_id, span_id = hex_id(exemplar.trace_id), hex_id(exemplar.span_id)
    return ReceivedExemplar(trace_id, span_id, 0 if value is None else value)


_POINT_DECODERS: dict[str, Callable[[Any], ReceivedPoint]] = {
    "sum": _number_point,
    "gauge": _number_point,
    "histogram": _histogram_point,
    "exponential_histogram": _exponential_histogram_point,
    "summary": _summary_point,
}
