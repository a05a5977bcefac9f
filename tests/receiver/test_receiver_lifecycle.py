"""Starting, stopping and addressing the receiver."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from autobot_apm.receiver import OTLPReceiver
from support import free_port, wait_until


def send_span(endpoint: str, name: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    )
    provider.get_tracer("t").start_span(name).end()
    provider.shutdown()


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class TestEndpoints:
    def test_ephemeral_ports_are_distinct_and_reported(self):
        """Port 0 binds two free ports, reported as http:// URLs on the host."""
        with OTLPReceiver() as receiver:
            grpc_host, _, grpc_port = receiver.grpc_endpoint.removeprefix("http://").rpartition(":")
            http_host, _, http_port = receiver.http_endpoint.removeprefix("http://").rpartition(":")
        assert ("127.0.0.1", "127.0.0.1") == (grpc_host, http_host)
        assert grpc_port != http_port
        assert 0 not in (int(grpc_port), int(http_port))

    def test_fixed_port_is_used(self):
        """An explicit HTTP port is the one listened on."""
        port = free_port()
        with OTLPReceiver(grpc=False, http_port=port) as receiver:
            assert f"http://127.0.0.1:{port}" == receiver.http_endpoint

    def test_endpoint_before_start_is_an_error(self):
        """Asking for an endpoint before start() raises RuntimeError."""
        with pytest.raises(RuntimeError, match="start"):
            _ = OTLPReceiver().grpc_endpoint

    def test_disabled_protocol_has_no_endpoint(self):
        """A receiver created with http=False has no HTTP endpoint."""
        with OTLPReceiver(http=False) as receiver, pytest.raises(RuntimeError, match="http=False"):
            _ = receiver.http_endpoint

    def test_one_protocol_is_required(self):
        """Disabling both protocols is refused."""
        with pytest.raises(ValueError, match="gRPC, HTTP"):
            OTLPReceiver(grpc=False, http=False)


class TestHosts:
    @pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "localhost", "::"])
    def test_non_loopback_host_is_refused(self, host):
        """Only loopback addresses are accepted, so telemetry never leaves the machine."""
        with pytest.raises(ValueError, match="loopback"):
            OTLPReceiver(host=host)

    def test_other_127_address(self):
        """Any 127.x.y.z address works, for both protocols."""
        with OTLPReceiver(host="127.0.0.2") as receiver:
            send_span(receiver.grpc_endpoint, "via-127-0-0-2")
            assert receiver.http_endpoint.startswith("http://127.0.0.2:")
            assert ["via-127-0-0-2"] == [span.name for span in receiver.wait_for_spans(1)]

    @pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
    def test_ipv6_loopback(self):
        """::1 is bracketed in endpoints and receives over both protocols."""
        with OTLPReceiver(host="::1") as receiver:
            assert receiver.grpc_endpoint.startswith("http://[::1]:")
            send_span(receiver.grpc_endpoint, "over-ipv6")
            port = int(receiver.http_endpoint.rpartition(":")[2])
            connection = http.client.HTTPConnection("::1", port, timeout=5)
            try:
                connection.request("GET", "/v1/traces")
                status = connection.getresponse().status
            finally:
                connection.close()
            assert 405 == status
            assert ["over-ipv6"] == [span.name for span in receiver.wait_for_spans(1)]


class TestStartStop:
    def test_taken_port_raises(self):
        """Starting on a port another receiver holds raises OSError, for either protocol."""
        with OTLPReceiver() as first:
            grpc_port = int(first.grpc_endpoint.rpartition(":")[2])
            http_port = int(first.http_endpoint.rpartition(":")[2])
            with pytest.raises(OSError, match="gRPC"):
                OTLPReceiver(http=False, grpc_port=grpc_port).start()
            with pytest.raises(OSError, match=r"HTTP on 127\.0\.0\.1:\d+: Address already in use"):
                OTLPReceiver(grpc=False, http_port=http_port).start()

    def test_restart_listens_on_the_same_ports(self):
        """A stopped receiver starts again on its old ports, like a restarted collector."""
        receiver = OTLPReceiver().start()
        endpoints = (receiver.grpc_endpoint, receiver.http_endpoint)
        receiver.stop()
        with receiver:
            assert endpoints == (receiver.grpc_endpoint, receiver.http_endpoint)
            send_span(receiver.grpc_endpoint, "after-restart")
            assert 1 == len(receiver.wait_for_spans(1))

    def test_start_twice_and_stop_twice_are_harmless(self):
        """start() on a running receiver and stop() on a stopped one change nothing."""
        receiver = OTLPReceiver()
        assert receiver is receiver.start()
        endpoint = receiver.grpc_endpoint
        receiver.start()
        assert endpoint == receiver.grpc_endpoint
        receiver.stop()
        receiver.stop()

    def test_stopped_receiver_refuses_connections(self):
        """After stop() nothing listens on the HTTP port."""
        with OTLPReceiver(grpc=False) as receiver:
            port = int(receiver.http_endpoint.rpartition(":")[2])
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), 1),
        ):
            pass

    def test_stop_does_not_wait_for_idle_kept_alive_connections(self):
        """stop() returns while a client still holds a kept-alive connection, and closes it.

        The client never closes its connection before stop() has returned, so a stop() that
        waited for it would never return.
        """
        receiver = OTLPReceiver(grpc=False).start()
        connection = http.client.HTTPConnection(
            receiver.http_endpoint.removeprefix("http://"), timeout=10
        )
        try:
            connection.request("GET", "/v1/traces")
            assert 405 == connection.getresponse().status  # the connection stays open
            stopper = threading.Thread(target=receiver.stop)
            stopper.start()
            wait_until(lambda: not stopper.is_alive(), what="stop() returning")
            assert connection.sock is not None
            assert b"" == connection.sock.recv(1)  # the server closed its end
        finally:
            connection.close()
            receiver.stop()

    def test_repr_shows_ports_and_mode(self):
        """repr() names host, ports and mode, for debugging."""
        with OTLPReceiver(grpc=False) as receiver:
            port = receiver.http_endpoint.rpartition(":")[2]
            assert f"OTLPReceiver(127.0.0.1, http={port}, mode='ok')" == repr(receiver)
