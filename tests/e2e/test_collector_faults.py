"""A collector that is down, failing or back again: calls never wait, losses are counted."""

import pytest

import autobot_apm as apm
from autobot_apm._sdk import health as _health
from autobot_apm.receiver import OTLPReceiver
from support import dead_endpoint, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def shut_down():
    yield
    apm.shutdown(timeout=2)


@apm.track_cache("fault")
def lookup(key):
    return key


class TestCollectorDown:
    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_calls_complete_and_losses_are_counted(self, protocol):
        """Nothing listening: 2,000 calls finish, overflow is counted, shutdown gives up."""
        apm.configure(endpoint=dead_endpoint(), protocol=protocol, timeout=1,
                      span_queue_size=64, span_batch_size=32, span_schedule_delay=0.05,
                      metric_export_interval=3600)  # fmt: skip
        assert list(range(2000)) == [lookup(key) for key in range(2000)]
        wait_until(
            lambda: _health.telemetry_health()["dropped"].get("traces.queue_full", 0) > 0,
            what="the span queue overflow being counted",
        )
        # That shutdown() keeps to its cap is tests/test_shutdown_cap.py's subject.
        assert isinstance(apm.shutdown(timeout=1), bool)


class TestCollectorRecovers:
    def test_export_resumes_when_the_collector_comes_back(self):
        """While the collector answers UNAVAILABLE nothing is kept; then export resumes."""
        with OTLPReceiver() as receiver:
            receiver.mode = "unavailable"
            apm.configure(endpoint=receiver.http_endpoint, timeout=1,
                          span_schedule_delay=0.05, metric_export_interval=3600)  # fmt: skip
            with apm.track_cache("before"):
                pass
            wait_until(
                lambda: any(r.mode == "unavailable" for r in receiver.requests),
                what="an export attempt",
            )
            receiver.mode = "ok"
            with apm.track_cache("after"):
                pass
            spans = receiver.wait_for_spans(lambda found: any(s.name == "get after" for s in found))
            # "before" may arrive too, if the exporter's retry outlived the outage.
            assert {"get after"} <= {span.name for span in spans} <= {"get after", "get before"}
