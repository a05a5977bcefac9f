"""configure() end to end: real OTLP export over gRPC and HTTP to a loopback receiver."""

import subprocess
import sys
import textwrap

import pytest

import autobot_apm as apm
from autobot_apm.receiver import OTLPReceiver
from support import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


def _traffic():
    @apm.track_api(route="/orders/{order_id}", method="GET")
    def get_order(order_id):
        with apm.track_cache("orders") as cache:
            cache.miss()
        with apm.track_database("postgresql", query=f"SELECT * FROM orders WHERE id = {order_id}"):
            pass
        return None

    get_order(17)


def _run_configured(**settings):
    apm.configure(service_name="wire-test", service_version="1.2.3", environment="test",
                  metric_export_interval=3600, **settings)  # fmt: skip
    try:
        _traffic()
    finally:
        assert apm.shutdown(timeout=10)


def _check_trace(spans):
    by_name = {span.name: span for span in spans}
    assert {"GET /orders/{order_id}", "get orders", "SELECT orders"} == set(by_name)
    root = by_name["GET /orders/{order_id}"]
    assert "SERVER" == root.kind
    assert {root.trace_id} == {span.trace_id for span in spans}
    assert root.span_id == by_name["SELECT orders"].parent_span_id
    assert root.span_id == by_name["get orders"].parent_span_id
    assert "17" not in by_name["SELECT orders"].attributes["db.query.text"]
    assert "wire-test" == root.resource["service.name"]
    assert "1.2.3" == root.resource["service.version"]
    assert "test" == root.resource["deployment.environment.name"]


def _check_metrics(rx):
    rx.wait_for_metrics(lambda metrics: {m.name for m in metrics} >= {
        "http.server.request.duration", "db.client.operation.duration",
        "autobot_apm.cache.operations"})  # fmt: skip
    (http_point,) = rx.latest_metric_points("http.server.request.duration")
    assert 1 == http_point.count
    assert "/orders/{order_id}" == http_point.attributes["http.route"]
    assert 0.005 == http_point.explicit_bounds[0]
    assert any(exemplar[0] for exemplar in http_point.exemplars)
    (cache_point,) = rx.latest_metric_points("autobot_apm.cache.operations")
    assert "miss" == cache_point.attributes["cache.result"]


class TestExport:
    def test_grpc(self, receiver):
        """OTLP/gRPC: the trace, its resource and the metrics arrive intact."""
        _run_configured(endpoint=receiver.grpc_endpoint, protocol="grpc")
        _check_trace(receiver.wait_for_spans(3))
        _check_metrics(receiver)
        assert {"grpc"} == {request.protocol for request in receiver.requests}

    def test_http(self, receiver):
        """OTLP/HTTP protobuf: the same, over HTTP, with configured headers sent."""
        _run_configured(endpoint=receiver.http_endpoint, protocol="http/protobuf",
                        headers={"x-tenant": "blue"})  # fmt: skip
        _check_trace(receiver.wait_for_spans(3))
        _check_metrics(receiver)
        assert all("blue" == r.headers.get("x-tenant") for r in receiver.requests)


def _python(code, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip


class TestLifecycle:
    def test_shutdown_is_bounded_when_collector_is_down(self):
        """Nothing listening: shutdown() returns and raises nothing (the cap itself is
        tests/test_shutdown_cap.py's subject)."""
        apm.configure(endpoint=f"http://127.0.0.1:{free_port()}", protocol="grpc",
                      metric_export_interval=3600)  # fmt: skip
        _traffic()
        assert isinstance(apm.shutdown(timeout=1.0), bool)

    def test_spans_are_flushed_at_exit(self, receiver, monkeypatch):
        """A process that never calls shutdown() still exports its spans at exit."""
        result = _python(f"""
            import autobot_apm as apm
            apm.configure(service_name="exiting", endpoint="{receiver.http_endpoint}")
            with apm.track_cache("last"):
                pass
        """)
        assert 0 == result.returncode, result.stderr
        (span,) = receiver.wait_for_spans(1)
        assert ("get last", "exiting") == (span.name, span.resource["service.name"])

    def test_existing_providers_are_adopted(self, receiver):
        """Providers the application installed are used as they are, not replaced."""
        result = _python(f"""
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            provider = TracerProvider(resource=Resource.create({{"service.name": "own"}}))
            provider.add_span_processor(SimpleSpanProcessor(
                OTLPSpanExporter(endpoint="{receiver.http_endpoint}/v1/traces")))
            trace.set_tracer_provider(provider)
            import autobot_apm as apm
            apm.configure(service_name="ignored", exporter="console")
            assert trace.get_tracer_provider() is provider
            with apm.track_cache("adopted"):
                pass
        """)
        assert 0 == result.returncode, result.stderr
        (span,) = receiver.wait_for_spans(1)
        assert "own" == span.resource["service.name"]
        # No console span exporter was added to the application's tracer provider.
        assert not any(line.startswith("trace ") for line in result.stdout.splitlines())

    def test_sdk_disabled_sends_nothing(self, receiver):
        """OTEL_SDK_DISABLED=true: calls run untracked and nothing is exported."""
        import os

        env = {**os.environ, "OTEL_SDK_DISABLED": "true"}
        result = _python(f"""
            import autobot_apm as apm
            apm.configure(endpoint="{receiver.http_endpoint}")
            with apm.track_cache("off") as op:
                op.hit()
            apm.shutdown()
        """, env=env)  # fmt: skip
        assert 0 == result.returncode, result.stderr
        # The receiver keeps a request before answering it, and the process has ended:
        # any export it made is already here.
        assert [] == receiver.requests

    def test_console_is_the_default_without_an_endpoint(self):
        """No endpoint anywhere: spans are printed, readable, to the console."""
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        result = _python("""
            import autobot_apm as apm
            apm.configure(service_name="console-demo")
            with apm.track_api(route="/hello", method="GET"):
                pass
        """, env=env)  # fmt: skip
        assert 0 == result.returncode, result.stderr
        assert "GET /hello" in result.stdout
        assert "{" not in result.stdout.splitlines()[0]  # a readable line, not JSON


class TestSampler:
    def test_configure_starts_the_sampler(self, receiver):
        """configure(sampler=...) exports host and process gauges with the other metrics."""
        apm.configure(endpoint=receiver.http_endpoint, metric_export_interval=0.5,
                      sampler={"gpu": False, "npu": False})  # fmt: skip
        try:
            metrics = receiver.wait_for_metrics("process.memory.usage")
        finally:
            apm.shutdown(timeout=5)
        names = {metric.name for metric in metrics}
        assert {"system.cpu.utilization", "process.memory.usage"} <= names

    def test_bad_sampler_option_is_a_configuration_error(self, receiver):
        """An unknown sampler option fails configure(); a corrected call then works."""
        with pytest.raises(apm.ConfigurationError, match="sampler"):
            apm.configure(endpoint=receiver.http_endpoint, sampler={"gpus": False})
        assert not apm.is_configured()
        apm.configure(endpoint=receiver.http_endpoint, metric_export_interval=3600)
        assert apm.is_configured()
        apm.shutdown(timeout=5)
