"""The parts of autobot-apm demo: traffic plan, process cluster, progress, report, summary.

The whole demo runs in tests/e2e/test_demo.py; here each part is checked on its own,
the cluster with real (tiny) child processes.
"""

from __future__ import annotations

import io
import re
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
import pytest

from autobot_apm import _demo
from autobot_apm._demo import cluster as cluster_module
from autobot_apm._demo.cluster import Cluster, DemoError
from autobot_apm._demo.progress import Progress
from autobot_apm._demo.report import failed_request, full_request, slow_queries, traces
from autobot_apm._demo.summary import Line, summary_lines
from autobot_apm._demo.traffic import SCENARIO, Call, describe, plan, send
from autobot_apm._sdk.console.aligned import render_table
from autobot_apm.receiver import ReceivedEvent, ReceivedMetric, ReceivedPoint, ReceivedSpan
from support import cluster_pids

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def histogram(name: str, service: str, *points: ReceivedPoint) -> ReceivedMetric:
    return ReceivedMetric(
        name, "", "s", "histogram", False, "cumulative", {"service.name": service}, "t",
        points, "http",
    )  # fmt: skip


def point(attributes: dict[str, Any], *values: float) -> ReceivedPoint:
    """A histogram point holding ``values``."""
    counts = [0] * (len(BOUNDS) + 1)
    for value in values:
        counts[sum(value > bound for bound in BOUNDS)] += 1
    return ReceivedPoint(
        attributes, 0, count=len(values), sum=sum(values), min=min(values), max=max(values),
        bucket_counts=tuple(counts), explicit_bounds=BOUNDS,
    )  # fmt: skip


def span(
    name: str,
    service: str,
    trace_id: str,
    *,
    start: int = 0,
    status: str = "UNSET",
    events: tuple[ReceivedEvent, ...] = (),
) -> ReceivedSpan:
    return ReceivedSpan(
        name, "INTERNAL", trace_id, f"{start:016x}", None, start, start + 5_000_000, {},
        {"service.name": service}, "t", status, "", events, (), "http",
    )  # fmt: skip


class TestPlan:
    def test_the_scenario_comes_first(self) -> None:
        """The minimum plan is the scenario itself."""
        assert list(SCENARIO) == plan(len(SCENARIO))

    def test_more_requests_repeat_ordinary_ones(self) -> None:
        """Extra requests follow the scenario and all expect success."""
        calls = plan(10)
        assert 10 == len(calls)
        assert [200] * 6 == [call.expected_status for call in calls[len(SCENARIO) :]]

    def test_one_planned_failure(self) -> None:
        """Exactly one request of the scenario is meant to fail, with 502."""
        assert [502] == [c.expected_status for c in SCENARIO if c.expected_status != 200]


class FixedStatus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(502)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def server_502() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FixedStatus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class TestSend:
    def test_error_status_is_an_outcome(self, server_502: str) -> None:
        """An error status is returned, not raised."""
        assert 502 == send(server_502, Call("GET", "/x")).status

    def test_unreachable_frontend_is_a_demo_error(self) -> None:
        """A frontend that does not answer stops the demo with a message naming the call."""
        with pytest.raises(DemoError, match="did not answer GET /x"):
            send("http://127.0.0.1:1", Call("GET", "/x"))

    def test_describe_names_surprises(self, server_502: str) -> None:
        """A request that got an unexpected status is named with it."""
        outcomes = [
            send(server_502, Call("GET", "/x")),
            send(server_502, Call("GET", "/y", None, 502)),
        ]
        expected = (
            "sent 2 requests to the frontend; 1 failed as planned (502); unexpected: GET /x -> 502"
        )
        assert expected == describe(outcomes)


def child(script: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script)]


POLITE = """
    import json, socket, sys
    s = socket.create_server(("127.0.0.1", 0))
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    peers = json.loads(sys.stdin.readline())["peers"]
    print(json.dumps({"ready": True, "peers": sorted(peers)}), flush=True)
    sys.stdin.read()
"""
STUBBORN = """
    import json, signal, socket, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = socket.create_server(("127.0.0.1", 0))
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    sys.stdin.readline()
    print(json.dumps({"ready": True}), flush=True)
    time.sleep(60)
"""


def gone(pids: list[int]) -> bool:
    return not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )


class TestCluster:
    def test_services_learn_each_other(self) -> None:
        """Every service gets the others' URLs; a polite service stops when asked."""
        with Cluster({"a": child(POLITE), "b": child(POLITE)}) as services:
            services.start(timeout=30)
            urls = services.urls
            pids = cluster_pids(services)
            assert [] == services.stop()
        assert ["a", "b"] == sorted(urls)
        assert gone(pids)

    def test_failed_start_shows_last_words(self) -> None:
        """A service that dies while starting is named, with its exit status and stderr."""
        crash = child("import sys; sys.stderr.write('address in use\\n'); sys.exit(3)")
        with Cluster({"backend": crash}) as services, pytest.raises(DemoError) as caught:
            services.start(timeout=30)
        message = str(caught.value)
        assert message.startswith("service backend stopped while starting (exit status 3)")
        assert "address in use" in message

    def test_slow_start_times_out_and_is_stopped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A service that never reports is a timeout error, and is stopped all the same."""
        monkeypatch.setattr(cluster_module, "STOP_TIMEOUT", 0.2)
        with Cluster({"llm": child("import time; time.sleep(60)")}) as services:
            with pytest.raises(DemoError, match="service llm did not start in time"):
                services.start(timeout=0.5)
            pids = cluster_pids(services)
        assert gone(pids)

    def test_stubborn_service_is_killed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A service that ignores the request to stop and SIGTERM is killed."""
        monkeypatch.setattr(cluster_module, "STOP_TIMEOUT", 0.2)
        monkeypatch.setattr(cluster_module, "KILL_TIMEOUT", 0.2)
        services = Cluster({"worker": child(STUBBORN)})
        services.start(timeout=30)
        pids = cluster_pids(services)
        assert ["worker"] == services.stop()
        assert gone(pids)

    def test_user_settings_stay_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The services do not inherit OTEL_* settings, which could send the demo elsewhere."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318")
        assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in cluster_module.child_environment()


class TestProgress:
    def test_plain_lines(self) -> None:
        """Off a terminal only result lines are written, without cursor control."""
        out = io.StringIO()
        with Progress(out, live=False, color=False).step("starting") as step:
            step.done("started 5 services")
        assert out.getvalue().startswith("✓ started 5 services (")
        assert "\r" not in out.getvalue()

    def test_failure_marks_the_step(self) -> None:
        """A step that raises is marked with a cross, and the error goes on."""
        out = io.StringIO()
        with pytest.raises(DemoError), Progress(out, live=False, color=False).step("sending"):
            raise DemoError("boom")
        assert "✗ sending\n" == out.getvalue()

    def test_live_spinner_is_replaced(self) -> None:
        """On a terminal the spinner line is cleared and replaced by the result."""
        out = io.StringIO()
        with Progress(out, live=True, color=False).step("waiting") as step:
            step.done("done waiting")
        last = out.getvalue().split("\r\x1b[2K")[-1]
        assert last.startswith("✓ done waiting (")


class TestTable:
    def test_alignment(self) -> None:
        """Text left, numbers right, no trailing spaces."""
        text = render_table([("name", "<"), ("n", ">")], [["a", "1"], ["bbb", "22"]], color=False)
        assert "name   n\na      1\nbbb   22" == text

    def test_colour_keeps_alignment(self) -> None:
        """With colour, the text without escape codes is the plain table."""
        rows = [["a", "1"], ["bbb", "22"]]
        columns = [("name", "<"), ("n", ">")]
        painted = render_table(columns, rows, color=True, styles={0: "name", 1: "number"})
        plain = render_table(columns, rows, color=False)
        assert plain == re.sub(r"\x1b\[[0-9;]*m", "", painted)


class TestSummary:
    def test_merges_statuses_and_counts_errors(self) -> None:
        """Points of one route are one line; errors are counted from error.type."""
        route = {"http.request.method": "POST", "http.route": "/ask"}
        metric = histogram(
            "http.server.request.duration", "frontend",
            point({**route, "http.response.status_code": 200}, 0.02, 0.03, 0.04),
            point({**route, "http.response.status_code": 502, "error.type": "502"}, 0.2),
        )  # fmt: skip
        [line] = summary_lines([metric], [], ["frontend"])
        assert ("frontend", "http", "POST /ask", 4, "1 error") == (
            line.service, line.kind, line.name, line.calls, line.notes,
        )  # fmt: skip
        assert line.p50 is not None
        assert 0.02 <= line.p50 <= 0.05

    def test_cache_hit_ratio(self) -> None:
        """Look-ups report the share of hits."""
        names = {"cache.name": "products", "cache.operation": "get"}
        metric = histogram(
            "autobot_apm.cache.operation.duration", "backend",
            point({**names, "cache.result": "hit"}, 0.001, 0.001, 0.001),
            point({**names, "cache.result": "miss"}, 0.002),
        )  # fmt: skip
        [line] = summary_lines([metric], [], ["backend"])
        assert "hit ratio 75% (3 hit, 1 miss)" == line.notes

    def test_llm_tokens_and_first_chunk(self) -> None:
        """LLM lines add token totals and the median time to the first chunk."""
        call = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "demo-mini"}
        metrics = [
            histogram("gen_ai.client.operation.duration", "backend", point(call, 0.2, 0.3)),
            histogram(
                "gen_ai.client.token.usage",
                "backend",
                point({**call, "gen_ai.token.type": "input"}, 10, 12),
                point({**call, "gen_ai.token.type": "output"}, 30, 31),
            ),
            histogram("gen_ai.client.operation.time_to_first_chunk", "backend", point(call, 0.09)),
        ]
        [line] = summary_lines(metrics, [], ["backend"])
        assert "tokens 22 in / 61 out, first chunk p50 90.0 ms" == line.notes

    def test_the_last_export_wins(self) -> None:
        """Cumulative points arrive once per export; only the latest is counted."""
        route = {"http.request.method": "GET", "http.route": "/"}
        early = histogram("http.server.request.duration", "frontend", point(route, 0.01))
        late = histogram("http.server.request.duration", "frontend", point(route, 0.01, 0.02))
        [line] = summary_lines([early, late], [], ["frontend"])
        assert 2 == line.calls

    def test_slow_calls_and_order(self) -> None:
        """Slow spans are counted on their operation; services keep the given order."""
        db = {"db.query.summary": "SELECT orders"}
        route = {"http.request.method": "GET", "http.route": "/"}
        metrics = [
            histogram("db.client.operation.duration", "backend", point(db, 0.3)),
            histogram("http.server.request.duration", "frontend", point(route, 0.4)),
        ]
        slow = span("SELECT orders", "backend", "t1", events=(ReceivedEvent(
            "autobot_apm.slow_operation", {"threshold_s": 0.2}),))  # fmt: skip
        lines = summary_lines(metrics, [slow], ["frontend", "backend"])
        shown = [(line.service, line.notes) for line in lines]
        assert [("frontend", ""), ("backend", "1 slow")] == shown
        assert isinstance(lines[0], Line)


class TestReport:
    def test_full_request_crosses_most_services(self) -> None:
        """The richest successful trace is chosen; of equals, the latest."""
        spans = [
            span("a", "frontend", "t1", start=1), span("b", "backend", "t1", start=2),
            span("a", "frontend", "t2", start=3),
            span("a", "frontend", "t3", start=4), span("b", "backend", "t3", start=5),
            span("a", "frontend", "t4", start=6, status="ERROR"),
            span("b", "backend", "t4", start=7), span("c", "llm", "t4", start=8),
        ]  # fmt: skip
        chosen = full_request(traces(spans))
        assert chosen is not None
        assert {"t3"} == {s.trace_id for s in chosen}

    def test_failed_request_is_the_first_with_an_error(self) -> None:
        """The first trace holding an error span is the failed request."""
        spans = [span("a", "frontend", "t1"), span("b", "backend", "t2", start=1, status="ERROR")]
        chosen = failed_request(traces(spans))
        assert chosen is not None
        assert "t2" == chosen[0].trace_id

    def test_slow_query_line(self) -> None:
        """A slow database span is listed with its service, duration and threshold."""
        event = ReceivedEvent("autobot_apm.slow_operation", {"threshold_s": 0.2})
        lines = slow_queries([span("SELECT orders", "backend", "t1", events=(event,))])
        assert ["  backend: SELECT orders took 5.00 ms (threshold 200 ms)"] == lines


class TestMissingExtra:
    def test_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without FastAPI or uvicorn the demo says which extra to install, and fails."""
        monkeypatch.setattr(_demo, "DEMO_PACKAGES", ("fastapi", "no_such_package_for_demo"))
        err = io.StringIO()
        assert 1 == _demo.run_demo(out=io.StringIO(), err=err)
        assert "not installed: no_such_package_for_demo" in err.getvalue()
        assert "pip install 'autobot-apm[demo]'" in err.getvalue()
