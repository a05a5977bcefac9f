"""APMMiddleware on real uvicorn servers, with the global providers configure() installs.

With global SDK providers, FastAPI 0.165 traces every app by itself. One child process
serves the same FastAPI app wired three ways (middleware outside the app,
``instrument_fastapi``, ``app.add_middleware``), built before ``configure()`` as real
applications are, with no telemetry settings given to FastAPI, and a fourth copy with
no middleware (FastAPI's own telemetry alone, to show it is on); it exports over
OTLP/HTTP to a receiver here. Each arrangement must give exactly one server span and
one ``http.server.request.duration`` record per request, and none for health checks.
Each app also has a track_api endpoint below its route decorator and one above it.
"""

import json
import select
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

DURATION = "http.server.request.duration"
ARRANGEMENTS = ("outside", "instrumented", "inside")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
# Per arrangement: three item reads, a failure, a stream and the two track_api
# endpoints; the health checks not.
TRACKED_REQUESTS = 7
ABOVE = "stacked above the route decorator"
# A stream that would run for hours: its span can only end because the client left.
ENDLESS = "chunks=100000"

SERVER = """
import asyncio, json, socket, sys, threading, time

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

import autobot_apm as apm
from autobot_apm.asgi import APMMiddleware, instrument_fastapi


def build(name, **options):
    app = FastAPI(**options)

    @app.get(f"/{name}/items/{{item_id}}")
    async def read_item(item_id: int):
        return {"id": item_id}

    @app.get(f"/{name}/healthz")
    async def healthz():
        return {"ok": True}

    @app.get(f"/{name}/fail")
    async def fail():
        raise ValueError("the endpoint failed")

    @app.get(f"/{name}/stream")
    async def stream(chunks: int = 4):
        async def body():
            for _ in range(chunks):
                await asyncio.sleep(0.05)
                yield f"{time.time_ns()}\\n".encode()  # when the chunk left, on the span's clock
        return StreamingResponse(body())

    @app.post(f"/{name}/orders/{{order_id}}")
    @apm.track_api
    async def create_order(order_id: int):
        return {"order": order_id}

    @apm.track_api
    @app.get(f"/{name}/above")
    async def tracked_above():
        return {}

    return app


inside = build("inside")
inside.add_middleware(APMMiddleware)
APPS = {
    "outside": APMMiddleware(build("outside")),
    "instrumented": instrument_fastapi(build("instrumented")),
    "inside": inside,
    "native": build("native"),
}
apm.configure(service_name="asgi-e2e", endpoint=sys.argv[1], metric_export_interval=3600,
              span_schedule_delay=0.05)


async def main():
    sockets = {}
    for name in APPS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sockets[name] = sock
    servers = [uvicorn.Server(uvicorn.Config(app, log_level="warning")) for app in APPS.values()]
    serving = [asyncio.create_task(s.serve(sockets=[sockets[n]])) for s, n in zip(servers, APPS)]
    while not all(server.started for server in servers):
        await asyncio.sleep(0.02)
    print(json.dumps({name: sock.getsockname()[1] for name, sock in sockets.items()}), flush=True)

    def stop_when_stdin_closes():
        sys.stdin.read()
        for server in servers:
            server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    await asyncio.gather(*serving)


asyncio.run(main())
assert apm.shutdown(timeout=10)
"""


def read_line(stream, timeout):
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def send_traffic(name, port):
    """The requests of one arrangement: their status codes, by path, and the times at which
    the stream's chunks were sent."""
    base = f"http://127.0.0.1:{port}/{name}"
    statuses, chunk_times = {}, []
    traced = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "baggage": "tenant=acme"}
    for path, headers in [
        ("/items/1", {}),
        ("/items/2", {}),
        ("/items/3", traced),
        ("/healthz", {}),
        ("/healthz", {}),
        ("/stream", {}),
        ("/fail", {}),
        ("/above", {}),
    ]:
        response = httpx.get(base + path, headers=headers, timeout=10)
        statuses[path] = response.status_code
        if path == "/stream":
            chunk_times = [int(line) for line in response.text.split()]
    statuses["/orders/5"] = httpx.post(base + "/orders/5", timeout=10).status_code
    return statuses, chunk_times


def leave_a_stream_early(port, receiver):
    """Read the first chunk of an endless stream, hang up, wait for the server to notice."""
    url = f"http://127.0.0.1:{port}/outside/stream?{ENDLESS}"
    with httpx.stream("GET", url, timeout=10) as response:
        next(response.iter_raw())
    # The server notices the disconnect at its next chunk and ends the span.
    receiver.wait_for_spans(
        lambda spans: any(span.attributes.get("url.query") == ENDLESS for span in spans)
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Run the server, send every arrangement its traffic, stop it; keep what arrived."""
    script = tmp_path_factory.mktemp("asgi") / "server.py"
    script.write_text(SERVER)
    with OTLPReceiver() as receiver, subprocess.Popen(
        [sys.executable, str(script), receiver.http_endpoint],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            ports = json.loads(read_line(process.stdout, timeout=30) or "null")
            assert ports, "the server did not start"
            sent = {name: send_traffic(name, ports[name]) for name in (*ARRANGEMENTS, "native")}
            statuses = {name: codes for name, (codes, _) in sent.items()}
            chunk_times = {name: times for name, (_, times) in sent.items()}
            leave_a_stream_early(ports["outside"], receiver)
            statuses["after disconnect"] = httpx.get(
                f"http://127.0.0.1:{ports['outside']}/outside/items/4", timeout=10
            ).status_code
            _, stderr = process.communicate(input="", timeout=30)  # closing stdin stops it
        finally:
            if process.poll() is None:
                process.kill()
        receiver.wait_for_metrics(DURATION, timeout=10)
        yield {"ports": ports, "statuses": statuses, "chunk_times": chunk_times,
               "returncode": process.returncode,
               "stderr": stderr, "spans": receiver.spans, "metrics": receiver.metrics}  # fmt: skip


def server_spans(served, name):
    port = served["ports"][name]
    return [
        span for span in served["spans"]
        if span.kind == "SERVER" and span.attributes.get("server.port") == port
    ]  # fmt: skip


def duration_records(served, name):
    """Measurements of every scope's http.server.request.duration for this arrangement."""
    latest = {}
    for metric in served["metrics"]:
        if metric.name == DURATION:
            for point in metric.points:
                latest[(metric.scope, repr(sorted(point.attributes.items())))] = point
    records = Counter()
    for (scope, _), point in latest.items():
        route = str(point.attributes.get("http.route", ""))
        if route.startswith(f"/{name}/"):
            records[(scope, route)] += point.count
    return records


class TestServer:
    def test_requests_were_served_and_the_process_exited_cleanly(self, served):
        """Every response as the app meant it; exit status 0; no contained fault logged."""
        expected = {"/items/1": 200, "/items/2": 200, "/items/3": 200, "/healthz": 200,
                    "/stream": 200, "/fail": 500, "/above": 200, "/orders/5": 200}  # fmt: skip
        names = (*ARRANGEMENTS, "native")
        assert {name: expected for name in names} == {
            name: served["statuses"][name] for name in names
        }
        assert 200 == served["statuses"]["after disconnect"]
        assert 0 == served["returncode"], served["stderr"]
        assert "internal error" not in served["stderr"]

    def test_the_control_app_had_fastapis_operation_spans(self, served):
        """Without our middleware FastAPI adds operation spans: what the test above rules out."""
        traces = {span.trace_id for span in server_spans(served, "native")} - {TRACE_ID}
        kinds = {span.kind for span in served["spans"] if span.trace_id in traces}
        assert {"SERVER", "INTERNAL"} == kinds

    def test_fastapi_native_telemetry_was_on(self, served):
        """The global providers switched FastAPI's own telemetry on: the app without our
        middleware sent FastAPI's spans, the others none."""
        assert {"fastapi"} == {span.scope for span in server_spans(served, "native")}
        for name in ARRANGEMENTS:
            assert {"autobot_apm"} == {span.scope for span in server_spans(served, name)}

    def test_track_api_above_a_route_decorator_is_reported(self, served):
        """The middleware names each app's route that track_api, stacked above, misses."""
        reports = [line for line in served["stderr"].splitlines() if ABOVE in line]
        assert 3 == len(reports), served["stderr"]
        assert all("tracked_above" in line for line in reports)


@pytest.mark.parametrize("name", ARRANGEMENTS)
class TestOneOfEach:
    def test_one_server_span_per_request(self, served, name):
        """Exactly one server span per tracked request, named by route."""
        names = Counter(span.name for span in server_spans(served, name))
        extra = {"outside": {"GET /outside/items/{item_id}": 1, "GET /outside/stream": 1}}
        expected = Counter({f"GET /{name}/items/{{item_id}}": 3, f"GET /{name}/stream": 1,
                            f"GET /{name}/fail": 1, f"GET /{name}/above": 1,
                            f"POST /{name}/orders/{{order_id}}": 1})  # fmt: skip
        expected += Counter(extra.get(name, {}))
        assert expected == names

    def test_one_duration_record_per_request(self, served, name):
        """Exactly one duration measurement per tracked request, over every scope."""
        records = duration_records(served, name)
        extra = 2 if name == "outside" else 0  # the early-closed stream and the read after it
        assert TRACKED_REQUESTS + extra == sum(records.values())
        assert {"autobot_apm"} == {scope for scope, _ in records}

    def test_no_span_but_the_server_span(self, served, name):
        """No FastAPI operation spans, no track_api span of its own: one span a request."""
        traces = {span.trace_id for span in server_spans(served, name)} - {TRACE_ID}
        spans = [span for span in served["spans"] if span.trace_id in traces]
        assert {"SERVER"} == {span.kind for span in spans}
        assert len(traces) == len(spans)

    def test_health_checks_reach_no_trace_and_no_metric(self, served, name):
        """/healthz: no span of any scope, no duration record of any scope."""
        paths = [span.attributes.get("url.path", "") for span in served["spans"]]
        assert [] == [path for path in paths if path == f"/{name}/healthz"]
        assert [] == [route for _, route in duration_records(served, name) if "healthz" in route]

    def test_incoming_trace_is_continued(self, served, name):
        """A request with traceparent joins the caller's trace, as a child of its span."""
        (span,) = [s for s in server_spans(served, name) if s.trace_id == TRACE_ID]
        assert PARENT_ID == span.parent_span_id
        assert f"/{name}/items/3" == span.attributes["url.path"]

    def test_failure_is_recorded_as_a_500(self, served, name):
        """The endpoint's exception: error status, its type as error.type, status 500."""
        (span,) = [s for s in server_spans(served, name) if s.name == f"GET /{name}/fail"]
        assert ("ERROR", "ValueError", 500) == (
            span.status_code,
            span.attributes["error.type"],
            span.attributes["http.response.status_code"],
        )

    def test_stream_is_timed_to_its_last_chunk(self, served, name):
        """The server span starts before the first chunk is sent and ends after the last."""
        spans = [s for s in server_spans(served, name) if s.name == f"GET /{name}/stream"
                 and s.attributes.get("url.query") != ENDLESS]  # fmt: skip
        chunk_times = served["chunk_times"][name]
        assert 4 == len(chunk_times)
        assert [True] == [
            span.start_ns < chunk_times[0] and chunk_times[-1] <= span.end_ns for span in spans
        ]


class TestClientDisconnect:
    def test_client_leaving_a_stream_is_cancelled_not_an_error(self, served):
        """The endless stream the client left ended: error.type cancelled, not an error."""
        spans = [s for s in server_spans(served, "outside") if s.name == "GET /outside/stream"]
        left = [span for span in spans if span.attributes.get("url.query") == ENDLESS]
        assert [("cancelled", "UNSET")] == [
            (span.attributes.get("error.type"), span.status_code) for span in left
        ]
