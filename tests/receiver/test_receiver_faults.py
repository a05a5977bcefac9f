"""Fault modes: what exporters and raw clients see when the receiver plays a broken collector."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from autobot_apm.receiver import OTLPReceiver
from support import wait_until

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
EMPTY_REQUEST = ExportTraceServiceRequest().SerializeToString()


def span_exporter(rx: OTLPReceiver, protocol: str, timeout: float) -> SpanExporter:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=rx.grpc_endpoint, insecure=True, timeout=timeout)
    return HttpSpanExporter(endpoint=f"{rx.http_endpoint}/v1/traces", timeout=timeout)


def export_one_span(rx: OTLPReceiver, protocol: str, timeout: float = 0.5) -> SpanExportResult:
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("op")
    span.end()
    provider.shutdown()
    exporter = span_exporter(rx, protocol, timeout)
    try:
        return exporter.export([span])
    finally:
        exporter.shutdown()


def grpc_export(
    rx: OTLPReceiver, timeout: float = 5.0
) -> tuple[grpc.StatusCode, grpc.Call | bytes]:
    """One raw gRPC export; returns the status code and the error call or response bytes."""
    with grpc.insecure_channel(rx.grpc_endpoint.removeprefix("http://")) as channel:
        export = channel.unary_unary(TRACE_EXPORT)
        try:
            return grpc.StatusCode.OK, export(EMPTY_REQUEST, timeout=timeout)
        except grpc.RpcError as error:
            return error.code(), error


def http_export(rx: OTLPReceiver, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP export; returns status, headers (lower-case) and body."""
    connection = http.client.HTTPConnection(
        rx.http_endpoint.removeprefix("http://"), timeout=timeout
    )
    try:
        headers = {"Content-Type": "application/x-protobuf"}
        connection.request("POST", "/v1/traces", EMPTY_REQUEST, headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture(params=["grpc", "http"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestModeSetting:
    def test_unknown_mode_is_refused(self, receiver):
        """An unknown mode raises ValueError naming the known ones, and the mode is unchanged."""
        with pytest.raises(ValueError, match="throttle"):
            receiver.mode = "broken"
        assert "ok" == receiver.mode

    def test_requests_are_listed_in_every_mode(self, receiver, protocol):
        """A refused export is listed with the mode that answered it; its spans are not kept."""
        receiver.mode = "error"
        export_one_span(receiver, protocol)
        assert [("traces", 1, "error")] == [
            (r.signal, r.item_count, r.mode) for r in receiver.requests
        ]
        assert [] == receiver.spans


class TestRefusals:
    @pytest.mark.parametrize("mode", ["unavailable", "error", "throttle"])
    def test_exporter_reports_failure(self, receiver, protocol, mode):
        """Refusing modes make the SDK exporter give up with FAILURE; no span is kept."""
        receiver.mode = mode
        assert SpanExportResult.FAILURE == export_one_span(receiver, protocol, timeout=0.5)
        assert {mode} == {request.mode for request in receiver.requests}
        assert [] == receiver.spans

    @pytest.mark.parametrize(
        ("mode", "code"),
        [
            ("unavailable", grpc.StatusCode.UNAVAILABLE),
            ("error", grpc.StatusCode.INTERNAL),
            ("throttle", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ],
    )
    def test_grpc_status_codes(self, receiver, mode, code):
        """Each refusing mode answers gRPC with the status a collector would use."""
        receiver.mode = mode
        assert code == grpc_export(receiver)[0]

    @pytest.mark.parametrize(
        ("mode", "status"), [("unavailable", 503), ("error", 500), ("throttle", 429)]
    )
    def test_http_status_and_status_body(self, receiver, mode, status):
        """Each refusing mode answers HTTP with its status and a google.rpc.Status body."""
        receiver.mode = mode
        answered, headers, body = http_export(receiver)
        assert status == answered
        assert "application/x-protobuf" == headers["content-type"]
        assert "fault injection" in Status.FromString(body).message

    def test_throttle_says_when_to_retry(self, receiver):
        """Throttling sends Retry-After over HTTP and a RetryInfo trailer over gRPC, both 1 s."""
        receiver.mode = "throttle"
        assert "1" == http_export(receiver)[1]["retry-after"]
        _, call = grpc_export(receiver)
        trailers = dict(call.trailing_metadata())
        assert 1 == RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]).retry_delay.seconds

    def test_throttled_exporter_waits_then_succeeds(self, receiver, protocol):
        """An exporter throttled once retries and gets through.

        How long it waits first is the SDK exporter's business; that the receiver advertises
        one second is test_throttle_says_when_to_retry's.
        """
        receiver.mode = "throttle"

        def recover_after_the_first_request() -> None:
            wait_until(lambda: 1 == len(receiver.requests))
            receiver.mode = "ok"

        recover = threading.Thread(target=recover_after_the_first_request)
        recover.start()
        try:
            assert SpanExportResult.SUCCESS == export_one_span(receiver, protocol, timeout=5)
        finally:
            recover.join()
        assert ["throttle", "ok"] == [request.mode for request in receiver.requests]
        assert 1 == len(receiver.spans)


class TestGarbage:
    def test_grpc_answers_ok_with_a_response_that_is_not_protobuf(self, receiver):
        """Over gRPC the call succeeds but its response message does not parse."""
        receiver.mode = "garbage"
        code, response = grpc_export(receiver)
        assert grpc.StatusCode.OK == code
        with pytest.raises(DecodeError):
            ExportTraceServiceResponse.FromString(response)

    def test_grpc_exporter_fails_on_the_malformed_response(self, receiver):
        """The SDK's gRPC exporter cannot parse the answer and reports failure."""
        receiver.mode = "garbage"
        assert SpanExportResult.FAILURE == export_one_span(receiver, "grpc")

    def test_http_answers_200_with_a_body_that_is_not_protobuf(self, receiver):
        """Over HTTP the status says success but the body does not parse."""
        receiver.mode = "garbage"
        status, _, body = http_export(receiver)
        assert 200 == status
        with pytest.raises(DecodeError):
            ExportTraceServiceResponse.FromString(body)

    def test_http_exporter_believes_it_succeeded_but_nothing_is_kept(self, receiver):
        """The SDK's HTTP exporter ignores the body, so the spans are silently lost."""
        receiver.mode = "garbage"
        assert SpanExportResult.SUCCESS == export_one_span(receiver, "http")
        assert ([], "garbage") == (receiver.spans, receiver.requests[0].mode)


class TestHang:
    def test_exporter_times_out(self, receiver, protocol):
        """A hung receiver makes the exporter give up with FAILURE (at its own timeout)."""
        receiver.mode = "hang"
        assert SpanExportResult.FAILURE == export_one_span(receiver, protocol, timeout=1)
        assert {"hang"} == {request.mode for request in receiver.requests}
        assert [] == receiver.spans

    def test_stop_is_fast_with_hung_clients(self):
        """stop() releases a gRPC and an HTTP client waiting on a hung receiver.

        Both clients would wait 30 s; they get the answers of a stopping server instead
        (UNAVAILABLE, a closed connection or 503), so stop() did not wait for them.
        """
        outcomes: list[object] = []
        with OTLPReceiver() as receiver:
            receiver.mode = "hang"
            clients = [
                threading.Thread(target=lambda: outcomes.append(grpc_export(receiver, 30)[0])),
                threading.Thread(target=lambda: outcomes.append(http_raw_outcome(receiver))),
            ]
            for client in clients:
                client.start()
            wait_until(lambda: 2 == len(receiver.requests))
            receiver.stop()
        for client in clients:
            client.join(10)
            assert not client.is_alive()
        assert {grpc.StatusCode.UNAVAILABLE, "closed or 503"} == set(outcomes)

    def test_leaving_hang_mode_releases_waiting_requests(self, receiver, protocol):
        """Switching back to "ok" answers hung requests as unavailable, at once."""
        receiver.mode = "hang"
        answers: list[object] = []
        client = threading.Thread(
            target=lambda: answers.append(
                grpc_export(receiver, 30)[0] if protocol == "grpc" else http_export(receiver, 30)[0]
            )
        )
        client.start()
        wait_until(lambda: 1 == len(receiver.requests))
        receiver.mode = "ok"
        client.join(5)
        assert [grpc.StatusCode.UNAVAILABLE if protocol == "grpc" else 503] == answers
        assert SpanExportResult.SUCCESS == export_one_span(receiver, protocol)


def http_raw_outcome(receiver: OTLPReceiver) -> str:
    """What a raw HTTP client waiting on a hung receiver gets when the receiver stops."""
    try:
        status = http_export(receiver, 30)[0]
    except (ConnectionError, http.client.RemoteDisconnected):
        return "closed or 503"
    return "closed or 503" if status == 503 else f"status {status}"
