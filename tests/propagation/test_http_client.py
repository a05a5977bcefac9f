"""instrument_http_clients: CLIENT spans, duration and traceparent for httpx and requests,
checked against a real HTTP server on loopback."""

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

import autobot_apm as apm
from autobot_apm.http_client import instrument_http_clients, uninstrument_http_clients
from support import free_port, wait_until


class EchoHandler(BaseHTTPRequestHandler):
    """GET answers with the request headers as JSON; /status/N answers N; /moved redirects."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/moved":
            self._answer(302, b"", [("Location", "/echo")])
            return
        status = int(path.rsplit("/", 1)[1]) if path.startswith("/status/") else 200
        body = json.dumps({name.lower(): value for name, value in self.headers.items()})
        self._answer(status, body.encode(), [("Content-Type", "application/json")])

    def _answer(self, status, body, headers):
        self.send_response(status)
        for name, value in [*headers, ("Content-Length", str(len(body)))]:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def unused_port():
    return free_port()


@pytest.fixture
def instrumented():
    instrument_http_clients()
    try:
        yield
    finally:
        uninstrument_http_clients()


def port_of(url):
    return urlsplit(url).port


def sent_traceparent(response):
    return response.json().get("traceparent")


def traceparent_of(span):
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}"


def httpx_get(url):
    with httpx.Client() as client:
        return client.get(url)


def requests_get(url):
    with requests.Session() as session:
        return session.get(url)


async def async_httpx_get(url):
    async with httpx.AsyncClient() as client:
        return await client.get(url)


def async_get(url):
    return asyncio.run(async_httpx_get(url))


CLIENTS = pytest.mark.parametrize(
    "get", [httpx_get, async_get, requests_get], ids=["httpx", "httpx-async", "requests"]
)


@pytest.mark.usefixtures("instrumented")
class TestClientSpan:
    @CLIENTS
    def test_one_client_span_with_the_stable_attributes(self, apm_capture, server, get):
        """A GET is one CLIENT span named GET with method, server, URL, status and version."""
        get(f"{server}/echo?page=2")
        (span,) = apm_capture.spans
        assert ("GET", SpanKind.CLIENT) == (span.name, span.kind)
        assert {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": port_of(server),
            "url.full": f"{server}/echo?page=2",
            "http.response.status_code": 200,
            "network.protocol.version": "1.1",
        } == dict(span.attributes)
        assert StatusCode.UNSET == span.status.status_code

    @CLIENTS
    def test_the_server_receives_the_client_spans_traceparent(self, apm_capture, server, get):
        """The traceparent header sent is the client span's own context."""
        response = get(f"{server}/echo")
        (span,) = apm_capture.spans
        assert traceparent_of(span) == sent_traceparent(response)[:52]

    @CLIENTS
    def test_the_client_span_is_a_child_of_the_current_span(self, apm_capture, server, get):
        """Inside a tracked endpoint, the request continues the endpoint's trace."""
        with apm.track_api(route="/page", method="GET") as page:
            get(f"{server}/echo")
        client = apm_capture.span("GET")
        assert page.span_id == f"{client.parent.span_id:016x}"
        assert page.trace_id == f"{client.context.trace_id:032x}"

    @CLIENTS
    def test_credentials_and_signatures_are_redacted(self, apm_capture, server, get):
        """url.full keeps no password and no signature value."""
        authority = server.replace("http://", "http://bob:hunter2@")
        get(f"{authority}/echo?sig=s3cret&page=2")
        url = apm_capture.span("GET").attributes["url.full"]
        expected = f"http://REDACTED:REDACTED@127.0.0.1:{port_of(server)}/echo?sig=REDACTED&page=2"
        assert expected == url

    @pytest.mark.parametrize("status", [404, 500])
    @CLIENTS
    def test_4xx_and_5xx_are_errors_on_the_client(self, apm_capture, server, get, status):
        """A client span fails for any status >= 400, error.type being the code."""
        get(f"{server}/status/{status}")
        span = apm_capture.span("GET")
        assert (StatusCode.ERROR, None) == (span.status.status_code, span.status.description)
        assert (str(status), status) == (span.attributes["error.type"],
                                         span.attributes["http.response.status_code"])  # fmt: skip

    def test_unknown_methods_become_other(self, apm_capture, server):
        """A method outside the known list is _OTHER, keeping the original on the span."""
        with httpx.Client() as client:
            client.request("PURGE", f"{server}/echo")
        span = apm_capture.span("HTTP")
        assert ("_OTHER", "PURGE") == (span.attributes["http.request.method"],
                                       span.attributes["http.request.method_original"])  # fmt: skip

    async def test_concurrent_async_requests_each_get_their_own_span(self, apm_capture, server):
        """Three requests gathered under one endpoint: three children, three traceparents."""
        async with (
            httpx.AsyncClient() as client,
            apm.track_api(route="/fan-out", method="GET") as page,
        ):
            responses = await asyncio.gather(*(client.get(f"{server}/echo") for _ in range(3)))
        clients = apm_capture.spans_named("GET")
        assert {page.span_id} == {f"{span.parent.span_id:016x}" for span in clients}
        assert {traceparent_of(span) for span in clients} == {
            sent_traceparent(response)[:52] for response in responses
        }


@pytest.mark.usefixtures("instrumented")
class TestFailures:
    @pytest.mark.parametrize(
        ("get", "expected_type", "error"),
        [
            (httpx_get, "httpx.ConnectError", httpx.ConnectError),
            (requests_get, "requests.exceptions.ConnectionError", requests.ConnectionError),
        ],
        ids=["httpx", "requests"],
    )
    def test_connection_refused(self, apm_capture, get, expected_type, error, unused_port):
        """No server: the exception passes through, the span records its class as error.type."""
        with pytest.raises(error):
            get(f"http://127.0.0.1:{unused_port}/")
        span = apm_capture.span("GET")
        assert (StatusCode.ERROR, expected_type) == (span.status.status_code,
                                                     span.attributes["error.type"])  # fmt: skip
        assert "http.response.status_code" not in span.attributes

    def test_httpx_follows_redirects_inside_one_span(self, apm_capture, server):
        """httpx's send() covers the redirect: one span with the final status."""
        with httpx.Client(follow_redirects=True) as client:
            client.get(f"{server}/moved")
        (span,) = apm_capture.spans
        assert 200 == span.attributes["http.response.status_code"]

    def test_requests_nests_a_span_per_redirect(self, apm_capture, server):
        """requests sends each redirect itself: the hop is a child span of the first."""
        requests_get(f"{server}/moved")
        first, hop = sorted(apm_capture.spans, key=lambda span: span.start_time)
        assert first.context.span_id == hop.parent.span_id


@pytest.mark.usefixtures("instrumented")
class TestMetric:
    @CLIENTS
    def test_one_duration_record_per_request(self, apm_capture, server, get):
        """http.client.request.duration gets one record, by method, server and status."""
        get(f"{server}/status/404")
        (point,) = apm_capture.metric_points("http.client.request.duration")
        assert {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": port_of(server),
            "http.response.status_code": 404,
            "error.type": "404",
            "network.protocol.version": "1.1",
        } == dict(point.attributes)
        assert 1 == point.count

    def test_seconds_with_the_http_buckets(self, apm_capture, server):
        """The histogram is in seconds with the semconv boundaries."""
        httpx_get(f"{server}/echo")
        metric = apm_capture.metrics()["http.client.request.duration"]
        assert ("s", 0.005) == (metric.unit, metric.data.data_points[0].explicit_bounds[0])


class TestWhenNotToTrack:
    @pytest.mark.usefixtures("instrumented")
    @CLIENTS
    def test_suppressed_requests_are_not_tracked(self, apm_capture, server, get):
        """While OpenTelemetry suppresses instrumentation (exporters), nothing is recorded."""
        token = otel_context.attach(
            otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
        )
        try:
            response = get(f"{server}/echo")
        finally:
            otel_context.detach(token)
        assert ([], None) == (apm_capture.spans, sent_traceparent(response))

    @pytest.mark.usefixtures("instrumented")
    @CLIENTS
    def test_unconfigured_requests_pass_through(self, server, get):
        """Without configure(), requests go out as they are: no traceparent is added."""
        assert sent_traceparent(get(f"{server}/echo")) is None

    @CLIENTS
    def test_uninstrument_restores_the_clients(self, apm_capture, server, get):
        """After uninstrument_http_clients(), no span and no header."""
        instrument_http_clients()
        uninstrument_http_clients()
        response = get(f"{server}/echo")
        assert ([], None) == (apm_capture.spans, sent_traceparent(response))

    @pytest.mark.usefixtures("instrumented")
    def test_instrumenting_twice_still_gives_one_span(self, apm_capture, server):
        """The call is idempotent: a second call does not wrap the clients again."""
        instrument_http_clients()
        httpx_get(f"{server}/echo")
        assert 1 == len(apm_capture.spans)


def run_python(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    return result.stdout.split()


class TestImports:
    def test_libraries_are_instrumented_when_imported_not_before(self):
        """instrument_http_clients() imports neither library; importing one later patches it."""
        out = run_python("""
            import sys
            from autobot_apm.http_client import instrument_http_clients
            instrument_http_clients()
            print("httpx" in sys.modules, "requests" in sys.modules)
            import httpx
            print(type(vars(httpx.Client)["send"]).__name__)
        """)
        assert ["False", "False", "FunctionWrapper"] == out

    def test_a_missing_library_is_skipped(self):
        """With requests not installed (import blocked), httpx is still instrumented."""
        out = run_python("""
            import sys
            sys.modules["requests"] = None  # makes `import requests` fail, as if absent
            from autobot_apm.http_client import instrument_http_clients
            instrument_http_clients()
            import httpx
            print(type(vars(httpx.AsyncClient)["send"]).__name__)
        """)
        assert ["FunctionWrapper"] == out


class TestOwnExport:
    @pytest.mark.e2e
    def test_exporting_over_http_makes_no_client_spans(self, server):
        """The OTLP/HTTP exporter sends with requests: those requests are never tracked."""
        from autobot_apm.receiver import OTLPReceiver

        program = textwrap.dedent("""
            import sys, requests
            import autobot_apm as apm
            from autobot_apm.http_client import instrument_http_clients
            instrument_http_clients()
            apm.configure(service_name="exporter-loop", endpoint=sys.argv[1],
                          span_schedule_delay=0.05, metric_export_interval=0.2)
            requests.get(sys.argv[2]).close()
            sys.stdin.readline()  # periodic exports go on until the test has seen several
            apm.shutdown()
        """)
        with OTLPReceiver(grpc=False) as receiver:
            with subprocess.Popen(
                [sys.executable, "-c", program, receiver.http_endpoint, f"{server}/echo"],
                stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ) as process:  # fmt: skip
                try:
                    # Span and metric exports, each made with requests while instrumented.
                    wait_until(lambda: len(receiver.requests) >= 3, what="three exports")
                    _, stderr = process.communicate("\n", timeout=60)
                finally:
                    process.kill()  # a no-op once it has exited
            assert 0 == process.returncode, stderr
            # Every export was answered before shutdown() returned: all of them are here.
            sent = [(span.name, span.attributes["server.port"]) for span in receiver.spans]
            assert [("GET", port_of(server))] == sent
