"""TLS to the collector with a private CA given in ``OTEL_EXPORTER_OTLP_CERTIFICATE``.

A small TLS terminator, with a server certificate for 127.0.0.1 issued by a test CA,
stands in front of the OTLP receiver and relays the decrypted bytes to it, so the same
receiver checks both OTLP/HTTP (HTTP/1.1 over TLS) and OTLP/gRPC (HTTP/2 over TLS, ALPN
``h2``). The application runs in a subprocess, configured with an ``https://`` endpoint.
"""

import contextlib
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import textwrap
import threading

import certifi
import pytest
import trustme

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

CALLS = 50
PROGRAM = textwrap.dedent(f"""
    import json, os
    import autobot_apm as apm

    apm.configure(service_name="tls-app", endpoint=os.environ["ENDPOINT"],
                  protocol=os.environ["PROTOCOL"], timeout=2, metric_export_interval=3600)

    @apm.track_cache("secure")
    def lookup(key):
        return key

    assert list(range({CALLS})) == [lookup(key) for key in range({CALLS})]
    flushed = apm.shutdown(timeout=10)
    print(json.dumps({{"flushed": flushed, "health": apm.telemetry_health()}}))
""")


class TlsTerminator:
    """Accept TLS on a loopback port and relay the plain bytes to ``upstream_port``."""

    def __init__(self, context: ssl.SSLContext, upstream_port: int) -> None:
        self._context = context
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # accept() notices close() within this time
        self.port = self._listener.getsockname()[1]
        self.handshakes = {"ok": 0, "failed": 0}
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)  # for the handshake; relayed reads wait in select()
        with raw:
            try:
                tls = self._context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                self.handshakes["failed"] += 1
                return
            self.handshakes["ok"] += 1
            with tls, socket.create_connection(self._upstream, timeout=10) as plain:
                self._track(tls, plain)
                self._relay(tls, plain)

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open.update(sockets)

    def _relay(self, tls: ssl.SSLSocket, plain: socket.socket) -> None:
        # One thread per connection: an SSL socket must not be read and written at once.
        with contextlib.suppress(OSError):
            while not self._closed.is_set():
                readable, _, _ = select.select([tls, plain], [], [], 0.2)
                if tls in readable or tls.pending():
                    data = tls.recv(65536)
                    while tls.pending():
                        data += tls.recv(tls.pending())
                    if not data:
                        return
                    plain.sendall(data)
                if plain in readable:
                    data = plain.recv(65536)
                    if not data:
                        return
                    tls.sendall(data)


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture(params=["grpc", "http/protobuf"])
def protocol(request):
    return request.param


@pytest.fixture
def terminator(ca, receiver, protocol):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    upstream = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    proxy = TlsTerminator(context, int(upstream.rpartition(":")[2]))
    try:
        yield proxy
    finally:
        proxy.close()


# requests lets these replace the CA file an exporter gives it (psf/requests#3829); the
# machine's own settings must not decide a test, so each test says whether they are set.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _run_app(terminator, protocol, **extra_env):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_")
        and key not in CA_BUNDLE_VARIABLES
        and key.lower() not in {"https_proxy", "all_proxy"}
    }
    env.update(ENDPOINT=f"https://127.0.0.1:{terminator.port}", PROTOCOL=protocol, **extra_env)
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


class TestCustomCa:
    def test_spans_arrive_over_tls(self, terminator, receiver, protocol, ca_file):
        """With the CA in OTEL_EXPORTER_OTLP_CERTIFICATE, every span arrives over TLS."""
        report = _run_app(terminator, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=str(ca_file))
        spans = receiver.wait_for_spans(CALLS)
        assert {"get secure"} == {span.name for span in spans}
        assert CALLS == report["health"]["exported"]["traces"]
        assert report["flushed"]
        assert 0 == terminator.handshakes["failed"]

    def test_requests_ca_bundle_does_not_override_the_configured_ca(
        self, terminator, receiver, protocol, ca_file
    ):
        """REQUESTS_CA_BUNDLE set on the machine does not replace the configured CA."""
        report = _run_app(
            terminator,
            protocol,
            OTEL_EXPORTER_OTLP_CERTIFICATE=str(ca_file),
            REQUESTS_CA_BUNDLE=certifi.where(),
        )
        assert CALLS == report["health"]["exported"].get("traces", 0)
        assert CALLS == len(receiver.wait_for_spans(CALLS, timeout=2))

    def test_without_the_ca_nothing_arrives_and_the_loss_is_counted(
        self, terminator, receiver, protocol
    ):
        """Without the CA the certificate is refused: the app runs on, the loss is counted."""
        report = _run_app(terminator, protocol)
        assert [] == receiver.requests
        assert CALLS == report["health"]["dropped"]["traces.export_failed"]
        assert terminator.handshakes["failed"] > 0
        assert 0 == terminator.handshakes["ok"]
