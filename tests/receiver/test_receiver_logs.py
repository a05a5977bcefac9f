"""Log records sent by the real OTel SDK exporters over gRPC and HTTP, as decoded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from autobot_apm.receiver import OTLPReceiver


def log_exporter(rx: OTLPReceiver, protocol: str) -> LogRecordExporter:
    if protocol == "grpc":
        return GrpcLogExporter(endpoint=rx.grpc_endpoint, insecure=True)
    return HttpLogExporter(endpoint=f"{rx.http_endpoint}/v1/logs")


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture(params=["grpc", "http"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def logger(receiver: OTLPReceiver, protocol: str) -> Iterator[Logger]:
    provider = LoggerProvider(resource=Resource.create({"service.name": "payments"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter(receiver, protocol)))
    yield provider.get_logger("payments.charge")
    provider.shutdown()


class TestLogRecords:
    def test_severity_body_attributes_resource_scope(self, receiver, logger, protocol):
        """A record keeps its severity, body, attributes, resource, scope and event name."""
        logger.emit(
            body="card declined",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes={"payment.id": "p-1", "attempt": 2},
            event_name="payment.declined",
            timestamp=42,
        )
        (log,) = receiver.wait_for_logs(1)
        assert ("card declined", "WARN", 13) == (log.body, log.severity_text, log.severity_number)
        assert {"payment.id": "p-1", "attempt": 2} == log.attributes
        assert ("payments", "payments.charge") == (log.resource["service.name"], log.scope)
        assert ("payment.declined", 42, protocol) == (log.event_name, log.time_ns, log.protocol)

    def test_record_inside_a_span_carries_its_ids(self, receiver, logger):
        """A record emitted inside a span names that span's trace and span ids."""
        tracer_provider = TracerProvider()
        with tracer_provider.get_tracer("t").start_as_current_span("charge") as span:
            logger.emit(body="charging")
        tracer_provider.shutdown()
        (log,) = receiver.wait_for_logs(1)
        context = span.get_span_context()
        assert (f"{context.trace_id:032x}", f"{context.span_id:016x}") == (
            log.trace_id,
            log.span_id,
        )

    def test_record_outside_a_span_has_no_ids(self, receiver, logger):
        """A record emitted outside any span has no trace or span id."""
        logger.emit(body="idle")
        (log,) = receiver.wait_for_logs(1)
        assert (None, None) == (log.trace_id, log.span_id)

    def test_structured_body_and_bytes(self, receiver, logger):
        """Map bodies become dicts, arrays tuples, and bytes stay bytes."""
        logger.emit(body={"items": [1, "two"], "raw": b"\x00\xff"}, attributes={"digest": b"\x01"})
        (log,) = receiver.wait_for_logs(1)
        assert {"items": (1, "two"), "raw": b"\x00\xff"} == log.body
        assert {"digest": b"\x01"} == log.attributes

    def test_record_without_body(self, receiver, logger):
        """A record with no body arrives with body None."""
        logger.emit(severity_number=SeverityNumber.INFO)
        (log,) = receiver.wait_for_logs(1)
        assert log.body is None
        assert 9 == log.severity_number
