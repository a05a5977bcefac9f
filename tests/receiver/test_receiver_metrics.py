"""Metrics sent by the real OTel SDK exporters over gRPC and HTTP, as decoded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from autobot_apm.receiver import OTLPReceiver, ReceivedExemplar

HOUR_MS = 3_600_000  # exports happen on force_flush() only


def metric_exporter(rx: OTLPReceiver, protocol: str, **options: object) -> MetricExporter:
    if protocol == "grpc":
        return GrpcMetricExporter(endpoint=rx.grpc_endpoint, insecure=True, **options)
    return HttpMetricExporter(endpoint=f"{rx.http_endpoint}/v1/metrics", **options)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture(params=["grpc", "http"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_provider(exporter: MetricExporter, **options: object) -> MeterProvider:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=HOUR_MS)
    resource = Resource.create({"service.name": "inventory"})
    return MeterProvider(metric_readers=[reader], resource=resource, **options)


@pytest.fixture
def provider(receiver: OTLPReceiver, protocol: str) -> Iterator[MeterProvider]:
    meter_provider = make_provider(metric_exporter(receiver, protocol))
    yield meter_provider
    meter_provider.shutdown()


class TestMetricKinds:
    def test_counter_is_a_monotonic_cumulative_sum(self, receiver, provider, protocol):
        """A counter arrives as a monotonic cumulative sum with its unit, description, scope."""
        counter = provider.get_meter("shop", "1.0").create_counter(
            "orders", "{order}", "Orders placed"
        )
        counter.add(3, {"channel": "web"})
        provider.force_flush()
        (metric,) = receiver.wait_for_metrics("orders")
        assert ("sum", True, "cumulative") == (metric.kind, metric.monotonic, metric.temporality)
        assert ("{order}", "Orders placed", "shop") == (
            metric.unit,
            metric.description,
            metric.scope,
        )
        assert ({"channel": "web"}, 3) == (metric.points[0].attributes, metric.points[0].value)
        assert ("inventory", protocol) == (metric.resource["service.name"], metric.protocol)

    def test_up_down_counter_is_not_monotonic(self, receiver, provider):
        """An up-down counter arrives as a non-monotonic sum."""
        queue = provider.get_meter("shop").create_up_down_counter("queue.depth")
        queue.add(5)
        queue.add(-2)
        provider.force_flush()
        (metric,) = receiver.wait_for_metrics("queue.depth")
        assert ("sum", False, 3) == (metric.kind, metric.monotonic, metric.points[0].value)

    def test_observable_gauge_keeps_float_value(self, receiver, provider):
        """An observable gauge arrives as a gauge without temporality."""

        def observe(options: CallbackOptions) -> list[Observation]:
            return [Observation(0.75, {"hw.id": "gpu0"})]

        provider.get_meter("host").create_observable_gauge("hw.gpu.utilization", [observe])
        provider.force_flush()
        (metric,) = receiver.wait_for_metrics("hw.gpu.utilization")
        assert ("gauge", "unspecified") == (metric.kind, metric.temporality)
        assert [0.75] == [point.value for point in metric.points]

    def test_histogram_buckets_and_statistics(self, receiver, provider):
        """A histogram arrives with its bounds, per-bucket counts, count, sum, min and max."""
        histogram = provider.get_meter("api").create_histogram(
            "http.server.request.duration",
            unit="s",
            explicit_bucket_boundaries_advisory=[0.1, 0.5, 1.0],
        )
        for seconds in (0.05, 0.3, 2.0):
            histogram.record(seconds, {"http.route": "/orders"})
        provider.force_flush()
        (point,) = receiver.metric_points("http.server.request.duration")
        assert (0.1, 0.5, 1.0) == point.explicit_bounds
        assert (1, 1, 0, 1) == point.bucket_counts
        assert (3, 0.05, 2.0) == (point.count, point.min, point.max)
        assert 2.35 == pytest.approx(point.sum)
        assert point.value is None

    def test_histogram_exemplars_point_at_the_recording_span(self, receiver, provider):
        """Measurements recorded inside a sampled span carry that span's ids as exemplars."""
        tracer_provider = TracerProvider()
        histogram = provider.get_meter("api").create_histogram("latency", unit="s")
        with tracer_provider.get_tracer("t").start_as_current_span("request") as span:
            histogram.record(0.2)
            histogram.record(7.0)
        tracer_provider.shutdown()
        provider.force_flush()
        (point,) = receiver.metric_points("latency")
        context = span.get_span_context()
        ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}")
        expected = [ReceivedExemplar(*ids, 0.2), ReceivedExemplar(*ids, 7.0)]
        assert expected == sorted(point.exemplars, key=lambda exemplar: exemplar.value)

    def test_exponential_histogram_keeps_count_and_sum(self, receiver, protocol):
        """An exponential histogram arrives with its count and sum."""
        view = View(instrument_name="ttft", aggregation=ExponentialBucketHistogramAggregation())
        provider = make_provider(metric_exporter(receiver, protocol), views=[view])
        histogram = provider.get_meter("llm").create_histogram("ttft", unit="s")
        histogram.record(1.5)
        histogram.record(2.5)
        provider.shutdown()  # exports a last time
        (metric,) = receiver.wait_for_metrics("ttft")
        assert ("exponential_histogram", 2, 4.0) == (
            metric.kind,
            metric.points[0].count,
            metric.points[0].sum,
        )


class TestRepeatedExports:
    def test_every_cumulative_export_is_kept(self, receiver, provider):
        """Two flushes of a cumulative counter give two records with growing values."""
        counter = provider.get_meter("shop").create_counter("orders")
        counter.add(2)
        provider.force_flush()
        counter.add(3)
        provider.force_flush()
        receiver.wait_for_metrics(2)
        assert [2, 5] == [point.value for point in receiver.metric_points("orders")]
        assert [5] == [point.value for point in receiver.latest_metric_points("orders")]

    def test_latest_points_are_kept_per_attribute_set(self, receiver, protocol):
        """With delta temporality, a series missing from the last export keeps its last point."""
        exporter = metric_exporter(
            receiver, protocol, preferred_temporality={Counter: AggregationTemporality.DELTA}
        )
        provider = make_provider(exporter)
        counter = provider.get_meter("shop").create_counter("orders")
        counter.add(1, {"route": "/a"})
        counter.add(4, {"route": "/b"})
        provider.force_flush()
        counter.add(10, {"route": "/a"})
        provider.force_flush()
        provider.shutdown()
        receiver.wait_for_metrics(lambda metrics: len(metrics) >= 2)
        latest = {
            point.attributes["route"]: point.value
            for point in receiver.latest_metric_points("orders")
        }
        assert {"/a": 10, "/b": 4} == latest
        assert "delta" == receiver.metrics[0].temporality

    def test_item_count_is_the_number_of_points(self, receiver, provider):
        """An export request of metrics counts its data points."""
        counter = provider.get_meter("shop").create_counter("orders")
        for route in ("/a", "/b", "/c"):
            counter.add(1, {"route": route})
        provider.force_flush()
        receiver.wait_for_metrics("orders")
        assert [3] == [request.item_count for request in receiver.requests]
