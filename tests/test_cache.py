"""track_cache: hit/miss from results or the handle, counter and duration."""

import autobot_apm as apm
from autobot_apm.testing import Capture

OPERATIONS = "autobot_apm.cache.operations"


class TestHitMiss:
    def test_none_result_is_a_miss(self, apm_capture: Capture):
        """Decorated look-ups: None is a miss, anything else a hit."""
        store = {"a": 1}

        @apm.track_cache("kv")
        def get(key):
            return store.get(key)

        get("a")
        get("b")
        get("a")
        assert 2 == apm_capture.counter_value(OPERATIONS, {"cache.result": "hit"})
        assert 1 == apm_capture.counter_value(OPERATIONS, {"cache.result": "miss"})

    def test_hit_predicate(self, apm_capture: Capture):
        """hit= decides for results where None is not the miss marker."""

        @apm.track_cache("kv", hit=lambda result: result != -1)
        def get(key):
            return -1

        get("x")
        assert apm_capture.spans[0].attributes["cache.hit"] is False

    def test_writes_have_no_result(self, apm_capture: Capture):
        """A set is counted without hit/miss."""

        @apm.track_cache("kv", operation="set")
        def put(key, value):
            return None

        put("a", 1)
        (point,) = apm_capture.metric_points(OPERATIONS)
        assert {"cache.name": "kv", "cache.operation": "set"} == dict(point.attributes)

    def test_backend_makes_a_client_span(self, apm_capture: Capture):
        """Naming a backend system makes the span CLIENT with db.system.name."""
        with apm.track_cache("sessions", system="redis") as op:
            op.hit()
        span = apm_capture.span("get sessions")
        assert "redis" == span.attributes["db.system.name"]
        assert 1 == apm_capture.histogram_count("autobot_apm.cache.operation.duration")
