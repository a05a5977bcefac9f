"""The OTLP/HTTP side, driven by a raw HTTP client: paths, content types, encodings, keep-alive."""

from __future__ import annotations

import gzip
import http.client
import zlib
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from autobot_apm.receiver import OTLPReceiver

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def traces_request(*names: str) -> bytes:
    spans = [Span(name=name, trace_id=b"\x01" * 16, span_id=b"\x02" * 8) for name in names]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return bytes(request.SerializeToString())


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(grpc=False) as rx:
        yield rx


@pytest.fixture
def connection(receiver: OTLPReceiver) -> Iterator[http.client.HTTPConnection]:
    client = http.client.HTTPConnection(receiver.http_endpoint.removeprefix("http://"), timeout=5)
    yield client
    client.close()


def post(
    connection: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    connection.request("POST", path, body, headers)
    response = connection.getresponse()
    return response.status, response.read()


class TestAccepted:
    def test_plain_protobuf_is_answered_with_an_export_response(self, receiver, connection):
        """A valid request gets 200 and a parseable, empty ExportTraceServiceResponse."""
        status, body = post(connection, "/v1/traces", traces_request("a"), PROTOBUF)
        assert 200 == status
        assert ExportTraceServiceResponse() == ExportTraceServiceResponse.FromString(body)
        assert ["a"] == [span.name for span in receiver.spans]

    @pytest.mark.parametrize(
        ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
    )
    def test_compressed_bodies(self, receiver, connection, encoding, compress):
        """gzip and deflate bodies are inflated before decoding."""
        headers = {**PROTOBUF, "Content-Encoding": encoding}
        assert 200 == post(connection, "/v1/traces", compress(traces_request("z")), headers)[0]
        assert ["z"] == [span.name for span in receiver.spans]

    def test_connection_is_kept_alive(self, receiver, connection):
        """Several exports travel over one connection, as exporters' sessions do."""
        for name in ("first", "second", "third"):
            assert 200 == post(connection, "/v1/traces", traces_request(name), PROTOBUF)[0]
        assert ["first", "second", "third"] == [span.name for span in receiver.spans]

    def test_content_type_parameters_are_allowed(self, receiver, connection):
        """A charset-like parameter on the content type does not matter."""
        headers = {"Content-Type": "application/x-protobuf; charset=binary"}
        assert 200 == post(connection, "/v1/traces", traces_request("p"), headers)[0]

    def test_empty_request_is_accepted(self, receiver, connection):
        """An export with no spans is valid and listed with an item count of 0."""
        assert 200 == post(connection, "/v1/traces", b"", PROTOBUF)[0]
        assert [0] == [request.item_count for request in receiver.requests]


class TestRejected:
    def test_unknown_path_is_404(self, receiver, connection):
        """Only /v1/traces, /v1/metrics and /v1/logs exist; the connection stays usable."""
        assert 404 == post(connection, "/v1/profiles", traces_request("x"), PROTOBUF)[0]
        assert 200 == post(connection, "/v1/traces", traces_request("y"), PROTOBUF)[0]
        assert [("traces", 1)] == [(r.signal, r.item_count) for r in receiver.requests]

    def test_json_is_415(self, connection):
        """OTLP/JSON is not supported and is refused as an unsupported media type."""
        headers = {"Content-Type": "application/json"}
        assert 415 == post(connection, "/v1/traces", b"{}", headers)[0]

    def test_unknown_encoding_is_415(self, connection):
        """A Content-Encoding other than gzip or deflate is refused."""
        headers = {**PROTOBUF, "Content-Encoding": "br"}
        assert 415 == post(connection, "/v1/traces", traces_request("x"), headers)[0]

    def test_corrupt_gzip_is_400(self, connection):
        """A body that claims gzip but is not is a bad request."""
        headers = {**PROTOBUF, "Content-Encoding": "gzip"}
        assert 400 == post(connection, "/v1/traces", b"not gzip", headers)[0]

    def test_undecodable_protobuf_is_400_and_listed_as_invalid(self, receiver, connection):
        """A body that is not an export request gets 400 and is listed with mode "invalid"."""
        assert 400 == post(connection, "/v1/traces", b"\xff\xff\xff", PROTOBUF)[0]
        assert [("traces", 0, "invalid")] == [
            (r.signal, r.item_count, r.mode) for r in receiver.requests
        ]

    def test_get_is_405(self, connection):
        """Only POST is allowed, and the answer says so."""
        connection.request("GET", "/v1/traces")
        response = connection.getresponse()
        response.read()
        assert (405, "POST") == (response.status, response.getheader("Allow"))

    def test_missing_length_is_411(self, receiver):
        """A body without Content-Length is refused, and the connection closed."""
        address = receiver.http_endpoint.removeprefix("http://")
        client = http.client.HTTPConnection(address, timeout=5)
        try:
            client.putrequest("POST", "/v1/traces")
            client.putheader("Content-Type", "application/x-protobuf")
            client.putheader("Transfer-Encoding", "chunked")
            client.endheaders(b"0\r\n\r\n")
            response = client.getresponse()
            response.read()
        finally:
            client.close()
        assert (411, "close") == (response.status, response.getheader("Connection"))
