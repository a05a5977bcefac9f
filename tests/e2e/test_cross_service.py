"""One trace across real processes: frontend -> main -> ai over HTTP, main -> worker over Redis.

Every service is a uvicorn process of ``services.py`` with its own ``service.name`` and
its own loopback address, exporting real OTLP/HTTP to a receiver in this test. The test
starts one request with a traceparent of its own, then checks what arrived. Redis comes
from Debian's ``redis-server``; without it only the queue checks are skipped.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

SERVICES_SCRIPT = Path(__file__).with_name("services.py")
ADDRESSES = {"frontend": "127.0.0.2", "main": "127.0.0.3", "ai": "127.0.0.4", "worker": "127.0.0.5"}
TRACE_ID = secrets.token_hex(16)
CALLER_SPAN_ID = secrets.token_hex(8)
NO_REDIS = "redis-server is not installed (apt-get install redis-server): queue part NOT tested"


# --- processes -------------------------------------------------------------------------


def free_port(host):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self):
        return self.log.read_text(errors="replace")[-4000:]


def start(name, command, log_dir):
    log = log_dir / f"{name}.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    with log.open("wb") as sink:  # the child keeps its own descriptor
        popen = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    return Process(name, popen, log)


def wait_for_port(process, host, port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            pytest.fail(
                f"{process.name} exited with {process.popen.returncode}:\n{process.output()}"
            )
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(
        f"{process.name} did not listen on {host}:{port} in {timeout} s:\n{process.output()}"
    )


def stop(process):
    """SIGTERM (uvicorn then shuts down and the library flushes), SIGKILL after 10 s."""
    if process.popen.poll() is None:
        process.popen.terminate()
        try:
            process.popen.wait(10)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait(5)


@dataclass
class Deployment:
    urls: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)
    has_queue: bool = False


@pytest.fixture(scope="module")
def receiver():
    with OTLPReceiver(grpc=False) as rx:
        yield rx


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of our own on loopback, or None when it is not installed."""
    executable = shutil.which("redis-server")
    if executable is None:
        yield None
        return
    port = free_port("127.0.0.1")
    command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--protected-mode", "yes"]  # fmt: skip
    process = start("redis", command, tmp_path_factory.mktemp("redis"))
    try:
        wait_for_port(process, "127.0.0.1", port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def service_command(name, port, receiver, urls, redis_url):
    command = [sys.executable, str(SERVICES_SCRIPT), name, "--host", ADDRESSES[name],
               "--port", str(port), "--otlp", receiver.http_endpoint]  # fmt: skip
    for option, target in (("--main", "main"), ("--ai", "ai")):
        if target in urls:
            command += [option, urls[target]]
    return command + (["--redis", redis_url] if redis_url and name in {"main", "worker"} else [])


@pytest.fixture(scope="module")
def deployment(receiver, redis_url, tmp_path_factory):
    """ai, worker, main and frontend, started in that order (callees first)."""
    logs = tmp_path_factory.mktemp("services")
    names = ["ai", "worker", "main", "frontend"] if redis_url else ["ai", "main", "frontend"]
    running = Deployment(has_queue=redis_url is not None)
    try:
        for name in names:
            port = free_port(ADDRESSES[name])
            command = service_command(name, port, receiver, running.urls, redis_url)
            running.processes.append(start(name, command, logs))
            running.urls[name] = f"http://{ADDRESSES[name]}:{port}"
        for process in running.processes:
            port = int(running.urls[process.name].rsplit(":", 1)[1])
            wait_for_port(process, ADDRESSES[process.name], port)
        yield running
    finally:
        for process in running.processes:
            stop(process)


# --- the request and what arrived --------------------------------------------------------

TRACE_SPANS = {
    ("frontend", "SERVER", "GET /pages/{page_id}"), ("frontend", "CLIENT", "POST"),
    ("main", "SERVER", "POST /chat/{conversation_id}"), ("main", "CLIENT", "POST"),
    ("ai", "SERVER", "POST /generate/{model}"),
}  # fmt: skip
QUEUE_SPANS = {
    ("main", "PRODUCER", "send jobs"), ("worker", "CONSUMER", "process jobs"),
    ("worker", "CLIENT", "POST"), ("ai", "SERVER", "POST /embed/{model}"),
}  # fmt: skip
BACKGROUND_SPANS = {("main", "INTERNAL", "record_chat"), ("main", "INTERNAL", "set chat-history")}


def identity(span):
    return span.resource["service.name"], span.kind, span.name


@pytest.fixture(scope="module")
def spans(deployment, receiver):
    """Every span, once the whole request (and its queue and background work) arrived."""
    traceparent = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"
    response = httpx.get(f"{deployment.urls['frontend']}/pages/7",
                         headers={"traceparent": traceparent}, timeout=20)  # fmt: skip
    assert 200 == response.status_code, response.text
    expected = TRACE_SPANS | BACKGROUND_SPANS | (QUEUE_SPANS if deployment.has_queue else set())
    return receiver.wait_for_spans(lambda got: expected <= {identity(s) for s in got}, timeout=30)


def one(spans, service, kind, name):
    (found,) = [span for span in spans if identity(span) == (service, kind, name)]
    return found


# --- the checks ------------------------------------------------------------------------


class TestOneTrace:
    def test_every_service_shares_the_callers_trace_id(self, spans, deployment):
        """All request spans, in every service, carry the trace id the test sent."""
        in_trace = {span.resource["service.name"] for span in spans if span.trace_id == TRACE_ID}
        expected = {"frontend", "main", "ai"} | ({"worker"} if deployment.has_queue else set())
        assert expected == in_trace
        assert TRACE_SPANS <= {identity(span) for span in spans if span.trace_id == TRACE_ID}

    def test_http_hops_are_parent_and_child(self, spans):
        """caller -> frontend server -> its client -> main server -> its client -> ai server."""
        chain = [
            one(spans, "frontend", "SERVER", "GET /pages/{page_id}"),
            one(spans, "frontend", "CLIENT", "POST"),
            one(spans, "main", "SERVER", "POST /chat/{conversation_id}"),
            one(spans, "main", "CLIENT", "POST"),
            one(spans, "ai", "SERVER", "POST /generate/{model}"),
        ]
        parents = [span.parent_span_id for span in chain]
        assert [CALLER_SPAN_ID] + [span.span_id for span in chain[:-1]] == parents

    def test_one_server_span_per_request(self, spans, deployment):
        """Each request made one SERVER span (FastAPI's own telemetry stepped aside)."""
        servers = sorted(s.name for s in spans if s.kind == "SERVER" and s.trace_id == TRACE_ID)
        expected = [
            "GET /pages/{page_id}",
            "POST /chat/{conversation_id}",
            "POST /generate/{model}",
        ]
        if deployment.has_queue:
            expected.append("POST /embed/{model}")
        assert sorted(expected) == servers

    def test_server_spans_carry_route_templates(self, spans):
        """http.route is the template, never the raw path."""
        routes = {
            (s.resource["service.name"], s.attributes["http.route"])
            for s in spans
            if s.kind == "SERVER"
        }
        assert {
            ("frontend", "/pages/{page_id}"),
            ("main", "/chat/{conversation_id}"),
            ("ai", "/generate/{model}"),
        } <= routes
        assert all("7" not in route for _, route in routes)

    def test_client_spans_name_their_server(self, spans, deployment):
        """Each CLIENT span's server.address is the callee's own loopback address."""
        frontend_call = one(spans, "frontend", "CLIENT", "POST")
        main_call = one(spans, "main", "CLIENT", "POST")
        assert ADDRESSES["main"] == frontend_call.attributes["server.address"]
        assert ADDRESSES["ai"] == main_call.attributes["server.address"]
        assert f"{deployment.urls['ai']}/generate/small" == main_call.attributes["url.full"]

    def test_exports_made_no_spans(self, spans, receiver):
        """No service traced its own OTLP exports (they are sent with requests)."""
        receiver_port = int(receiver.http_endpoint.rsplit(":", 1)[1])
        assert [] == [s for s in spans if s.attributes.get("server.port") == receiver_port]


class TestBackgroundWork:
    def test_the_background_task_is_a_linked_trace(self, spans):
        """main's background task starts its own trace, linked to main's server span."""
        server = one(spans, "main", "SERVER", "POST /chat/{conversation_id}")
        job = one(spans, "main", "INTERNAL", "record_chat")
        assert (None, TRACE_ID) != (job.parent_span_id, job.trace_id)
        assert job.parent_span_id is None
        assert [(TRACE_ID, server.span_id)] == [(link.trace_id, link.span_id) for link in job.links]
        assert job.span_id == one(spans, "main", "INTERNAL", "set chat-history").parent_span_id

    def test_the_request_ended_before_the_background_task(self, spans):
        """The server span ends with the response; the task runs after it."""
        server = one(spans, "main", "SERVER", "POST /chat/{conversation_id}")
        assert server.end_ns <= one(spans, "main", "INTERNAL", "record_chat").start_ns


@pytest.fixture
def queue(deployment):
    if not deployment.has_queue:
        pytest.skip(NO_REDIS)


@pytest.mark.usefixtures("queue")
class TestQueue:
    def test_the_worker_continues_the_trace(self, spans):
        """send (child of main's server span) -> process (child of send, and linked)."""
        server = one(spans, "main", "SERVER", "POST /chat/{conversation_id}")
        send = one(spans, "main", "PRODUCER", "send jobs")
        process = one(spans, "worker", "CONSUMER", "process jobs")
        assert (server.span_id, send.span_id) == (send.parent_span_id, process.parent_span_id)
        assert [(TRACE_ID, send.span_id)] == [(lk.trace_id, lk.span_id) for lk in process.links]

    def test_the_worker_thread_pool_keeps_the_trace(self, spans):
        """process -> the pool thread's client call -> ai's server span."""
        process = one(spans, "worker", "CONSUMER", "process jobs")
        call = one(spans, "worker", "CLIENT", "POST")
        embed = one(spans, "ai", "SERVER", "POST /embed/{model}")
        assert (process.span_id, call.span_id) == (call.parent_span_id, embed.parent_span_id)

    def test_messaging_attributes(self, spans, redis_url):
        """The producer span names the system, the list, the operation and the server."""
        send = one(spans, "main", "PRODUCER", "send jobs")
        assert {
            "messaging.system": "redis",
            "messaging.destination.name": "jobs",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "server.address": "127.0.0.1",
            "server.port": int(redis_url.rsplit(":", 1)[1].split("/")[0]),
        } == send.attributes


# --- metrics, per service ------------------------------------------------------------------


def points(metrics, service, name):
    exported = [m for m in metrics if (m.resource.get("service.name"), m.name) == (service, name)]
    return [point for metric in exported for point in metric.points]


def has_point(metrics, service, name, attributes):
    return any(attributes.items() <= p.attributes.items() for p in points(metrics, service, name))


HTTP_METRICS = [
    ("frontend", "http.server.request.duration", {"http.route": "/pages/{page_id}"}),
    ("frontend", "http.client.request.duration", {"server.address": ADDRESSES["main"]}),
    ("main", "http.server.request.duration", {"http.route": "/chat/{conversation_id}"}),
    ("main", "http.client.request.duration", {"server.address": ADDRESSES["ai"]}),
    ("ai", "http.server.request.duration", {"http.route": "/generate/{model}"}),
]
QUEUE_METRICS = [
    ("main", "messaging.client.operation.duration", {"messaging.destination.name": "jobs"}),
    ("worker", "messaging.process.duration", {"messaging.operation.type": "process"}),
    ("worker", "http.client.request.duration", {"server.address": ADDRESSES["ai"]}),
]


class TestMetrics:
    @pytest.mark.parametrize(("service", "name", "attributes"), HTTP_METRICS)
    def test_http_metrics_per_service(self, spans, receiver, service, name, attributes):
        """Each service exports its own HTTP duration histograms, by route or server."""
        metrics = receiver.wait_for_metrics(lambda m: points(m, service, name), timeout=15)
        assert has_point(metrics, service, name, attributes)

    @pytest.mark.usefixtures("queue")
    @pytest.mark.parametrize(("service", "name", "attributes"), QUEUE_METRICS)
    def test_queue_metrics_per_service(self, spans, receiver, service, name, attributes):
        """main records the send, worker the processing, each under its own service.name."""
        metrics = receiver.wait_for_metrics(lambda m: points(m, service, name), timeout=15)
        assert has_point(metrics, service, name, attributes)

    def test_server_duration_counts_one_request(self, spans, receiver):
        """frontend's server histogram counted exactly the one request the test made."""
        route = {"http.route": "/pages/{page_id}"}
        name = "http.server.request.duration"
        receiver.wait_for_metrics(lambda m: has_point(m, "frontend", name, route), timeout=15)
        exported = [m for m in receiver.metrics if ("frontend", name) == (
            m.resource.get("service.name"), m.name)]  # fmt: skip
        assert ("s", 1) == (exported[-1].unit, exported[-1].points[-1].count)
