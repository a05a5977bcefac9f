"""The OTLP/gRPC side, driven by a raw gRPC channel: services, metadata, bad requests."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)

from autobot_apm.receiver import OTLPReceiver

SERVICE = "/opentelemetry.proto.collector.{0}.v1.{1}Service/Export"


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(http=False) as rx:
        yield rx


@pytest.fixture
def channel(receiver: OTLPReceiver) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(receiver.grpc_endpoint.removeprefix("http://")) as client:
        yield client


class TestServices:
    @pytest.mark.parametrize(
        ("package", "service", "response_type"),
        [
            ("metrics", "Metrics", ExportMetricsServiceResponse),
            ("logs", "Logs", ExportLogsServiceResponse),
        ],
    )
    def test_metrics_and_logs_services_answer(
        self, receiver, channel, package, service, response_type
    ):
        """The metrics and logs services accept an empty export and answer a valid response."""
        export = channel.unary_unary(SERVICE.format(package, service))
        response = export(b"", timeout=5)
        assert response_type() == response_type.FromString(response)
        assert [package] == [request.signal for request in receiver.requests]

    def test_unknown_method_is_unimplemented(self, channel):
        """A method the receiver does not serve gets UNIMPLEMENTED."""
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
        )
        with pytest.raises(grpc.RpcError) as raised:
            export(b"", timeout=5)
        assert grpc.StatusCode.UNIMPLEMENTED == raised.value.code()


class TestRequests:
    def test_undecodable_body_is_invalid_argument(self, receiver, channel):
        """A body that is not an export request gets INVALID_ARGUMENT and is listed as invalid."""
        export = channel.unary_unary(SERVICE.format("trace", "Trace"))
        with pytest.raises(grpc.RpcError) as raised:
            export(b"\xff\xff\xff", timeout=5)
        assert grpc.StatusCode.INVALID_ARGUMENT == raised.value.code()
        assert [("grpc", "traces", "invalid")] == [
            (r.protocol, r.signal, r.mode) for r in receiver.requests
        ]

    def test_metadata_becomes_headers(self, receiver, channel):
        """Text metadata is kept as is; binary metadata is base64, as on the wire."""
        export = channel.unary_unary(SERVICE.format("trace", "Trace"))
        export(b"", timeout=5, metadata=(("x-tenant", "acme"), ("x-token-bin", b"\x00\x01")))
        (request,) = receiver.requests
        assert "acme" == request.headers["x-tenant"]
        assert b"\x00\x01" == base64.b64decode(request.headers["x-token-bin"])
