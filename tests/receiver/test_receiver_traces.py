"""Spans sent by the real OTel SDK exporters over gRPC and HTTP, as decoded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer

from autobot_apm.receiver import OTLPReceiver, ReceivedEvent, ReceivedSpan

RESOURCE = Resource.create({"service.name": "checkout", "deployment.environment.name": "test"})


def span_exporter(rx: OTLPReceiver, protocol: str, **options: object) -> SpanExporter:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=rx.grpc_endpoint, insecure=True, **options)
    return HttpSpanExporter(endpoint=f"{rx.http_endpoint}/v1/traces", **options)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture(params=["grpc", "http"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tracer(receiver: OTLPReceiver, protocol: str) -> Iterator[Tracer]:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter(receiver, protocol)))
    yield provider.get_tracer("shop.checkout", "1.2.3")
    provider.shutdown()


def by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans}


class TestSpanIdentity:
    def test_child_points_at_parent_within_one_trace(self, receiver, tracer, protocol):
        """A child span carries its parent's span id and the same 32-hex trace id."""
        with (
            tracer.start_as_current_span("parent") as parent,
            tracer.start_as_current_span("child"),
        ):
            pass
        spans = by_name(receiver.wait_for_spans(2))
        parent_context = parent.get_span_context()
        assert f"{parent_context.trace_id:032x}" == spans["child"].trace_id
        assert f"{parent_context.span_id:016x}" == spans["child"].parent_span_id
        assert spans["parent"].parent_span_id is None
        assert 16 == len(spans["child"].span_id)
        assert protocol == spans["child"].protocol

    def test_timing_is_kept(self, receiver, tracer):
        """Start and end times arrive in nanoseconds, and duration_s is their difference."""
        span = tracer.start_span("timed", start_time=1_000_000_000)
        span.end(end_time=3_500_000_000)
        (received,) = receiver.wait_for_spans(1)
        assert (1_000_000_000, 3_500_000_000) == (received.start_ns, received.end_ns)
        assert 2.5 == received.duration_s

    @pytest.mark.parametrize("kind", list(SpanKind))
    def test_kind_is_named(self, receiver, tracer, kind):
        """Each span kind arrives under its short upper-case name."""
        tracer.start_span("op", kind=kind).end()
        (received,) = receiver.wait_for_spans(1)
        assert kind.name == received.kind


class TestSpanContent:
    def test_attributes_of_every_type(self, receiver, tracer):
        """Scalars keep their Python type; sequences arrive as tuples."""
        attributes = {
            "text": "ok",
            "flag": True,
            "count": 7,
            "ratio": 0.25,
            "texts": ["a", "b"],
            "flags": [True, False],
            "counts": [1, 2, 3],
            "ratios": [0.5, 1.5],
        }
        tracer.start_span("typed", attributes=attributes).end()
        (received,) = receiver.wait_for_spans(1)
        expected = {k: tuple(v) if isinstance(v, list) else v for k, v in attributes.items()}
        assert expected == received.attributes
        assert bool is type(received.attributes["flag"])
        assert int is type(received.attributes["count"])

    def test_resource_and_scope(self, receiver, tracer):
        """The provider's resource and the tracer's name come with each span."""
        tracer.start_span("op").end()
        (received,) = receiver.wait_for_spans(1)
        assert "checkout" == received.resource["service.name"]
        assert "test" == received.resource["deployment.environment.name"]
        assert "shop.checkout" == received.scope

    def test_events_in_order(self, receiver, tracer):
        """Events keep their names, attributes and times, in the order they were added."""
        span = tracer.start_span("op")
        span.add_event("cache.miss", {"cache.key": "user:1"}, timestamp=5)
        span.add_event("retry", timestamp=6)
        span.end()
        (received,) = receiver.wait_for_spans(1)
        expected = (
            ReceivedEvent("cache.miss", {"cache.key": "user:1"}, 5),
            ReceivedEvent("retry", {}, 6),
        )
        assert expected == received.events

    def test_links(self, receiver, tracer):
        """A link names the linked span's ids and carries its attributes."""
        with tracer.start_as_current_span("producer") as producer:
            pass
        context = producer.get_span_context()
        tracer.start_span("consumer", links=[Link(context, {"messaging.batch": True})]).end()
        consumer = by_name(receiver.wait_for_spans(2))["consumer"]
        (link,) = consumer.links
        expected = (
            f"{context.trace_id:032x}",
            f"{context.span_id:016x}",
            {"messaging.batch": True},
        )
        assert expected == (link.trace_id, link.span_id, link.attributes)

    def test_error_status_and_exception_event(self, receiver, tracer):
        """An error status keeps its message; a recorded exception arrives as an event."""
        span = tracer.start_span("failing")
        span.record_exception(ValueError("bad input"))
        span.set_status(Status(StatusCode.ERROR, "bad input"))
        span.end()
        (received,) = receiver.wait_for_spans(1)
        assert ("ERROR", "bad input") == (received.status_code, received.status_message)
        assert "exception" == received.events[0].name
        assert "ValueError" == received.events[0].attributes["exception.type"]

    @pytest.mark.parametrize("code", [StatusCode.UNSET, StatusCode.OK])
    def test_other_status_codes(self, receiver, tracer, code):
        """UNSET and OK arrive under their names."""
        span = tracer.start_span("op")
        span.set_status(Status(code))
        span.end()
        (received,) = receiver.wait_for_spans(1)
        assert code.name == received.status_code


class TestExportRequests:
    def test_request_lists_protocol_signal_headers_and_count(self, receiver, protocol):
        """Each export request is listed with its headers, names in lower case."""
        headers = {"x-api-key": "k1"} if protocol == "grpc" else {"X-Api-Key": "k1"}
        provider = TracerProvider()
        provider.add_span_processor(
            SimpleSpanProcessor(span_exporter(receiver, protocol, headers=headers))
        )
        provider.get_tracer("t").start_span("op").end()
        provider.shutdown()
        (request,) = receiver.requests
        assert (protocol, "traces", 1, "ok") == (
            request.protocol,
            request.signal,
            request.item_count,
            request.mode,
        )
        assert "k1" == request.headers["x-api-key"]

    def test_gzip_over_http(self, receiver):
        """A gzip-compressed HTTP export is decoded like a plain one."""
        provider = TracerProvider()
        exporter = span_exporter(receiver, "http", compression=Compression.Gzip)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.get_tracer("t").start_span("zipped", attributes={"size": 1}).end()
        provider.shutdown()
        (span,) = receiver.wait_for_spans(1)
        assert ("zipped", {"size": 1}) == (span.name, span.attributes)
        assert "gzip" == receiver.requests[0].headers["content-encoding"]

    def test_gzip_over_grpc(self, receiver):
        """gRPC message compression is handled by the transport."""
        from grpc import Compression as GrpcCompression

        provider = TracerProvider()
        exporter = span_exporter(receiver, "grpc", compression=GrpcCompression.Gzip)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        provider.get_tracer("t").start_span("zipped").end()
        provider.shutdown()
        assert ["zipped"] == [span.name for span in receiver.wait_for_spans(1)]
