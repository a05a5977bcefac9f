"""Waiting for telemetry, looking it up, and reading it from several threads."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer

from autobot_apm.receiver import OTLPReceiver


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(grpc=False) as rx:
        yield rx


@pytest.fixture
def tracer(receiver: OTLPReceiver) -> Iterator[Tracer]:
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"{receiver.http_endpoint}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("t")
    provider.shutdown()


def gauge_export(receiver: OTLPReceiver, name: str) -> None:
    """Post one gauge with a plain HTTP client."""
    metric = Metric(name=name, gauge=Gauge(data_points=[NumberDataPoint(as_int=1)]))
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[metric])])]
    )
    address = receiver.http_endpoint.removeprefix("http://")
    connection = http.client.HTTPConnection(address, timeout=5)
    try:
        headers = {"Content-Type": "application/x-protobuf"}
        connection.request("POST", "/v1/metrics", request.SerializeToString(), headers)
        assert 200 == connection.getresponse().status
    finally:
        connection.close()


class TestWaiting:
    def test_count_returns_once_enough_arrived(self, receiver, tracer):
        """wait_for_spans(n) returns the spans as soon as n have arrived."""
        later = threading.Timer(0.1, lambda: tracer.start_span("late").end())
        later.start()
        try:
            spans = receiver.wait_for_spans(1, timeout=5)
        finally:
            later.join()
        assert ["late"] == [span.name for span in spans]

    def test_predicate(self, receiver, tracer):
        """A predicate decides when the wait is over."""
        for name in ("a", "b", "c"):
            tracer.start_span(name).end()
        spans = receiver.wait_for_spans(lambda spans: any(s.name == "c" for s in spans), timeout=5)
        assert ["a", "b", "c"] == [span.name for span in spans]

    def test_predicate_may_read_the_receiver(self, receiver, tracer):
        """A predicate runs outside the receiver's lock, so it may call the receiver."""
        tracer.start_span("a").end()
        spans = receiver.wait_for_spans(lambda _: len(receiver.find_spans("a")) == 1, timeout=5)
        assert 1 == len(spans)

    def test_metric_by_name(self, receiver):
        """wait_for_metrics("name") waits for a metric of that name."""
        later = threading.Timer(0.05, gauge_export, (receiver, "cpu"))
        later.start()
        try:
            metrics = receiver.wait_for_metrics("cpu", timeout=5)
        finally:
            later.join()
        assert ["cpu"] == [metric.name for metric in metrics]

    def test_timeout_names_what_did_arrive(self, receiver, tracer):
        """The TimeoutError lists the spans and requests that did arrive, and the mode."""
        tracer.start_span("GET /orders").end()
        with pytest.raises(TimeoutError) as raised:
            receiver.wait_for_spans(3, timeout=0.2)
        message = str(raised.value)
        assert "3 spans" in message
        assert "'GET /orders' (INTERNAL)" in message
        assert "1 x http traces answered ok" in message
        assert "Mode is 'ok'" in message

    def test_timeout_for_metric_names_other_metrics(self, receiver):
        """Waiting for a missing metric lists the metrics that came, once each with a count."""
        gauge_export(receiver, "cpu")
        gauge_export(receiver, "cpu")
        with pytest.raises(TimeoutError, match=r"metric 'memory'.*'cpu' \(gauge\) x 2"):
            receiver.wait_for_metrics("memory", timeout=0.1)

    def test_timeout_for_logs_while_refusing(self, receiver):
        """A wait during a fault mode says which mode the receiver is in."""
        receiver.mode = "unavailable"
        with pytest.raises(TimeoutError, match="Mode is 'unavailable'"):
            receiver.wait_for_logs(1, timeout=0.1)


class TestLookups:
    def test_find_spans_by_name_and_attributes(self, receiver, tracer):
        """find_spans matches the name and every given attribute."""
        tracer.start_span("GET", attributes={"http.route": "/a", "code": 200}).end()
        tracer.start_span("GET", attributes={"http.route": "/b", "code": 200}).end()
        tracer.start_span("POST", attributes={"http.route": "/a"}).end()
        receiver.wait_for_spans(3)
        found = receiver.find_spans("GET", **{"http.route": "/a"})
        assert [("GET", "/a")] == [(s.name, s.attributes["http.route"]) for s in found]
        assert 2 == len(receiver.find_spans(code=200))
        assert [] == receiver.find_spans("GET", missing=None)

    def test_snapshots_are_copies(self, receiver, tracer):
        """Changing a returned list does not change what the receiver holds."""
        tracer.start_span("kept").end()
        receiver.spans.clear()
        receiver.requests.clear()
        assert (1, 1) == (len(receiver.spans), len(receiver.requests))

    def test_clear_forgets_everything_but_the_mode(self, receiver, tracer):
        """clear() empties records and requests; the mode stays."""
        tracer.start_span("gone").end()
        receiver.mode = "error"
        receiver.clear()
        assert ([], [], [], [], "error") == (
            receiver.spans,
            receiver.metrics,
            receiver.logs,
            receiver.requests,
            receiver.mode,
        )


class TestConcurrency:
    def test_exports_from_many_threads_are_all_kept(self, receiver, tracer):
        """Spans exported from eight threads at once all arrive, each once."""

        def export_five(worker: int) -> None:
            for index in range(5):
                tracer.start_span(f"w{worker}-{index}").end()

        workers = [threading.Thread(target=export_five, args=(n,)) for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        spans = receiver.wait_for_spans(40, timeout=10)
        assert 40 == len({span.name for span in spans})
