"""A collector that hangs, fails, throttles or answers garbage, over gRPC and HTTP.

Whatever the collector does, tracked calls and requests finish without waiting on it,
the telemetry that could not be delivered is counted, ``shutdown()`` keeps to its cap,
memory stays bounded, and export resumes once the collector answers again.

No test here measures speed: the hang detector gives the calls half a minute, where
exports waiting on the collector would block them for far longer.
"""

import asyncio
import gc
import io
import threading

import httpx
import pytest

import autobot_apm as apm
from autobot_apm import cli
from autobot_apm._sdk import health as _health
from autobot_apm.asgi import APMMiddleware
from autobot_apm.receiver import OTLPReceiver
from support import wait_until

pytestmark = pytest.mark.e2e

CALLS = 1_000
HANG_LIMIT_S = 30.0  # a hang detector, not a speed test: the calls take about a second
EXPORT_TIMEOUT_S = 1.0
SHUTDOWN_CAP_S = 0.5  # below the export timeout: a hung export outlives the cap
WAIT_S = 15.0  # how long a wait on a condition may take before the test fails
LOST = ("traces.export_failed", "metrics.export_failed")

# Every fault on both protocols, except a 200 with garbage over HTTP (see below).
REFUSING = [
    pytest.param(fault, protocol, id=f"{fault}-{protocol.partition('/')[0]}")
    for fault in ("hang", "error", "throttle", "garbage")
    for protocol in ("grpc", "http/protobuf")
    if (fault, protocol) != ("garbage", "http/protobuf")
]


@pytest.fixture(autouse=True)
def shut_down():
    yield
    apm.shutdown(timeout=SHUTDOWN_CAP_S)


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:  # stop() releases hung requests at once
        yield rx


def _configure(receiver, protocol, **overrides):
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    settings = {
        "service_name": "faulty-collector",
        "endpoint": endpoint,
        "protocol": protocol,
        "timeout": EXPORT_TIMEOUT_S,
        "span_queue_size": 64,
        "span_batch_size": 32,
        "span_schedule_delay": 0.05,
        "metric_export_interval": 0.2,
        **overrides,
    }
    apm.configure(**settings)


@apm.track_cache("fault")
def lookup(key):
    return key


def _calls(count=CALLS, limit=HANG_LIMIT_S):
    """Make ``count`` tracked calls on a thread; fail if they are not done in ``limit`` s."""
    outcome = {}

    def run():
        outcome["results"] = [lookup(key) for key in range(count)]

    thread = threading.Thread(target=run, daemon=True, name="hang-detector")
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"calls still running after {limit} s: they wait on export"
    return outcome["results"]


def _health_of(kind):
    return _health.telemetry_health()[kind]


class TestFaultyCollector:
    @pytest.mark.parametrize(("fault", "protocol"), REFUSING)
    def test_calls_complete_losses_are_counted_shutdown_keeps_its_cap(
        self, receiver, fault, protocol
    ):
        """Calls return their own results, lost spans and points are counted, shutdown is capped."""
        receiver.mode = fault
        _configure(receiver, protocol)
        assert list(range(CALLS)) == _calls()
        wait_until(
            lambda: set(LOST) <= set(_health_of("dropped")),
            timeout=WAIT_S,
            what=f"failed exports to be counted (so far {_health_of('dropped')})",
        )
        assert {fault} == {request.mode for request in receiver.requests}
        assert 0 == sum(_health_of("exported").values())
        # Returns, raising nothing; that it keeps to its cap is tests/test_shutdown_cap.py's
        # subject.
        assert isinstance(apm.shutdown(timeout=SHUTDOWN_CAP_S), bool)

    def test_http_200_with_a_garbage_body_counts_as_delivered(self, receiver):
        """OTLP/HTTP success is the status code: a 200 with a bad body counts as exported."""
        receiver.mode = "garbage"
        _configure(receiver, "http/protobuf")
        assert list(range(CALLS)) == _calls()
        wait_until(
            lambda: {"traces", "metrics"} <= set(_health_of("exported")),
            timeout=WAIT_S,
            what=f"exports to be counted (so far {_health_of('exported')})",
        )

    async def test_requests_complete_while_the_collector_hangs(self, receiver):
        """300 requests through APMMiddleware all answer while every export hangs."""
        receiver.mode = "hang"
        _configure(receiver, "grpc")

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": scope["path"].encode()})

        transport = httpx.ASGITransport(app=APMMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:

            async def drive():
                return [(await client.get(f"/items/{n}")).text for n in range(300)]

            bodies = await asyncio.wait_for(drive(), HANG_LIMIT_S)
        assert [f"/items/{n}" for n in range(300)] == bodies
        wait_until(lambda: receiver.requests, timeout=WAIT_S, what="an export attempt")

    def test_every_span_is_accounted_for(self, receiver):
        """After a full shutdown, exported plus dropped covers every span made."""
        receiver.mode = "error"
        _configure(receiver, "grpc")
        _calls()
        assert apm.shutdown(timeout=10)
        traces_dropped = sum(n for key, n in _health_of("dropped").items() if "traces" in key)
        # Overflow is counted when a span meets a full queue; a span the export thread
        # takes out at that very moment may be counted too, so never fewer than made.
        assert CALLS <= _health_of("exported").get("traces", 0) + traces_dropped


class TestDoctor:
    def test_doctor_run_in_the_process_shows_the_losses(self, receiver, tmp_path):
        """doctor, run inside the application's process, lists the dropped spans by reason."""
        receiver.mode = "error"
        _configure(receiver, "grpc")
        _calls()
        failed = "traces.export_failed"
        wait_until(lambda: failed in _health_of("dropped"), timeout=WAIT_S, what="a failed export")
        out = io.StringIO()
        assert 0 == cli.main(["doctor", "--npu-sysfs-root", str(tmp_path)], out=out)
        assert failed in out.getvalue()


class TestRecovery:
    @pytest.mark.parametrize(
        ("fault", "protocol"),
        [("hang", "http/protobuf"), ("error", "grpc"), ("throttle", "http/protobuf"),
         ("garbage", "grpc")],
    )  # fmt: skip
    def test_export_resumes_and_reports_the_outage(self, receiver, fault, protocol):
        """Once the collector answers again new spans arrive, with the count of those lost."""
        receiver.mode = fault
        _configure(receiver, protocol)
        _calls()  # overflows the queue of 64: some spans are surely lost
        receiver.mode = "ok"
        with apm.track_cache("after"):
            pass
        receiver.wait_for_spans(lambda spans: any(s.name == "get after" for s in spans), 15)
        metrics = receiver.wait_for_metrics("autobot_apm.telemetry.dropped", 15)
        lost = {
            point.attributes["autobot_apm.reason"]: point.value
            for metric in metrics
            if metric.name == "autobot_apm.telemetry.dropped"
            for point in metric.points
            if point.attributes["autobot_apm.signal"] == "traces"
        }
        assert lost.get("queue_full", 0) > 0


class TestMemory:
    def test_memory_stays_bounded_while_the_collector_hangs(self, receiver):
        """20,000 calls against a hung collector keep neither their spans nor their memory."""
        # After a warm-up that fills the span queue (2,048 spans, the default), new spans
        # take the place of dropped ones. Measured on this span shape, keeping 20,000
        # spans costs about 197,000 Python objects. The bound: fewer new objects than calls
        # (a retained span is about ten). Objects are counted, not RSS, which the
        # allocator and the exporters' buffers move for reasons of their own.
        receiver.mode = "hang"
        _configure(receiver, "http/protobuf", span_queue_size=None, span_batch_size=None)
        _calls(3_000)
        gc.collect()
        objects = len(gc.get_objects())
        _calls(20_000, limit=120)
        gc.collect()
        new_objects = len(gc.get_objects()) - objects
        assert new_objects < 20_000, f"{new_objects} objects more after 20,000 calls"
        assert _health_of("dropped").get("traces.queue_full", 0) > 0
