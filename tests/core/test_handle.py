"""A tracked call's metric labels: the tracker's own, shared, and never written by a call.

A call that adds nothing to its tracker's labels records them as they are (no dict per
call); one that adds a label (error.type, a status code, a response model, a cache
result) copies them first, so no call leaks a label into its neighbours' metrics.
"""

import asyncio
from types import SimpleNamespace

import pytest

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.database import DB_DURATION
from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture

DURATION = "db.client.operation.duration"
# The fields of an OpenAI chat completion that track_llm reads.
OPENAI_ANSWER = SimpleNamespace(
    id="chatcmpl-1",
    model="gpt-4o-2024-08-06",
    choices=[SimpleNamespace(index=0, finish_reason="stop")],
    usage=SimpleNamespace(prompt_tokens=12, completion_tokens=3),
)


def points(capture: Capture, name: str) -> list[dict]:
    return sorted(
        (dict(point.attributes) for point in capture.metric_points(name)),
        key=lambda attributes: sorted(attributes.items()),
    )


class TestSharedLabels:
    def test_a_call_that_adds_no_label_records_the_trackers_own(self, apm_capture: Capture):
        """The attributes handed to the histogram are the tracker's dict itself."""
        tracker = apm.track_database("postgresql", operation="SELECT", collection="users")
        recorded = []
        runtime = _runtime.current
        assert runtime is not None
        histogram = runtime.histogram(DB_DURATION)
        original = histogram.record

        def spy(amount, attributes=None, context=None):
            recorded.append(attributes)
            original(amount, attributes, context)

        histogram.record = spy
        try:
            tracker(lambda: None)()
            with tracker:
                pass
        finally:
            del histogram.record
        assert [tracker.metric_attributes] * 2 == recorded
        assert all(attributes is tracker.metric_attributes for attributes in recorded)

    def test_an_error_label_goes_to_a_copy(self, apm_capture: Capture):
        """A failed call between two good ones: only its own point has error.type."""
        tracker = apm.track_database("postgresql", operation="SELECT", collection="users")
        own = dict(tracker.metric_attributes)

        @tracker
        def query(fail: bool) -> None:
            if fail:
                raise ValueError("boom")

        query(False)
        with pytest.raises(ValueError, match="boom"):
            query(True)
        query(False)
        assert own == tracker.metric_attributes
        assert [own, {**own, "error.type": "ValueError"}] == points(apm_capture, DURATION)
        counts = {
            point.attributes.get("error.type"): point.count
            for point in apm_capture.metric_points(DURATION)
        }
        assert {None: 2, "ValueError": 1} == counts

    def test_a_cancelled_call_labels_a_copy(self, apm_capture: Capture):
        """error.type=cancelled stays on the cancelled call's point."""
        tracker = apm.track_database("postgresql", operation="SELECT")
        own = dict(tracker.metric_attributes)

        @tracker
        async def query() -> None:
            raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(query())
        with tracker:
            pass
        assert own == tracker.metric_attributes
        assert [own, {**own, "error.type": "cancelled"}] == points(apm_capture, DURATION)

    def test_fail_after_the_call_writes_no_shared_label(self, apm_capture: Capture):
        """A handle kept past its call and failed then changes no later call's labels."""
        tracker = apm.track_cache("sessions")
        with tracker as kept:
            kept.hit()
        kept.fail("late")
        with tracker as op:
            op.hit()
        assert {"cache.name": "sessions", "cache.operation": "get"} == tracker.metric_attributes
        assert "cache.result" in tracker.result_attributes[True]
        assert "error.type" not in tracker.result_attributes[True]
        assert 2 == apm_capture.counter_value(
            "autobot_apm.cache.operations", {"cache.result": "hit"}
        )

    def test_vocabularies_that_add_labels_leave_their_trackers_alone(self, apm_capture: Capture):
        """A status code, a response model and a cache result are each the call's own."""
        api = apm.track_api(route="/items/{id}", method="GET")
        llm = track_llm("openai", "gpt-4o")
        cache = apm.track_cache("sessions")
        before = [dict(t.metric_attributes) for t in (api, llm, cache)]
        with api as request:
            request.status(404)
        llm(lambda: OPENAI_ANSWER)()
        cache(lambda: None)()
        cache(lambda: 1)()
        assert before == [dict(t.metric_attributes) for t in (api, llm, cache)]
        assert 1 == apm_capture.histogram_count(
            "http.server.request.duration", {"http.response.status_code": 404}
        )
        assert 1 == apm_capture.histogram_count(
            "gen_ai.client.operation.duration", {"gen_ai.response.model": "gpt-4o-2024-08-06"}
        )
        assert 1 == apm_capture.counter_value(
            "autobot_apm.cache.operations", {"cache.result": "miss"}
        )
