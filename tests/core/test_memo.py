"""Trackers built once per distinct plain arguments (``_tracking/memo.py``).

``with apm.track_database(...)`` and ``with apm.track_cache(...)`` build a tracker on
every pass; one built from the same plain arguments is reused, and anything that is not
plain (a subclass, a mapping, a predicate, a long text) builds a tracker as before.
"""

import pytest

import autobot_apm as apm
from autobot_apm._sdk import state
from autobot_apm._tracking import memo


class LoudStr(str):
    """A str subclass whose hashing and comparison are user code that raises."""

    def __hash__(self):
        raise RuntimeError("hashed")

    def __eq__(self, other):
        raise RuntimeError("compared")


def test_the_same_plain_arguments_give_the_same_tracker():
    first = apm.track_database("postgresql", query="SELECT * FROM t WHERE id = %s")
    again = apm.track_database("postgresql", query="SELECT * FROM t WHERE id = %s")
    assert first is again
    cache = apm.track_cache("sessions", system="redis")
    assert cache is apm.track_cache("sessions", system="redis")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"server_port": 1}, {"server_port": True}),  # equal as keys, not as arguments
        ({"server_port": 1}, {"server_port": 1.0}),
        ({"operation": "get"}, {"operation": "set"}),
        ({"collection": "a"}, {"namespace": "a"}),  # the same value under another name
    ],
)
def test_arguments_that_differ_in_value_type_or_name_give_other_trackers(one, other):
    assert apm.track_database("redis", **one) is not apm.track_database("redis", **other)


def test_values_that_are_not_plain_are_never_hashed_and_build_anew():
    """A str subclass's __hash__ and __eq__ never run; its tracker is built each time."""
    name = LoudStr("sessions")
    first, again = apm.track_cache(name), apm.track_cache(name)
    assert first is not again
    assert first.span_name == again.span_name == "get sessions"


def test_long_texts_mappings_and_predicates_build_anew():
    long_query = "SELECT a FROM t WHERE b = " + "1" * memo.MAX_TEXT_KEY
    assert apm.track_database("mysql", query=long_query) is not apm.track_database(
        "mysql", query=long_query
    )
    assert apm.track_database("redis", attributes={"x.y": 1}) is not apm.track_database(
        "redis", attributes={"x.y": 1}
    )

    def hit(result):
        return result is not None

    assert apm.track_cache("c", hit=hit) is not apm.track_cache("c", hit=hit)


def test_reset_forgets_the_trackers():
    first = apm.track_cache("sessions")
    state.reset()
    assert apm.track_cache("sessions") is not first


def test_a_reused_tracker_records_each_call_as_its_own(apm_capture):
    """Two passes through the same with statement: two spans, each with its own hit or
    miss, on the span and in the counter."""
    for found in (True, False):
        with apm.track_cache("sessions", system="redis") as op:
            op.hit() if found else op.miss()
    first, second = apm_capture.spans
    assert [True, False] == [span.attributes["cache.hit"] for span in (first, second)]
    assert first.context.span_id != second.context.span_id
    points = apm_capture.metric_points("autobot_apm.cache.operations")
    assert ["hit", "miss"] == sorted(point.attributes["cache.result"] for point in points)


def test_bad_keywords_still_fail_at_the_call():
    with pytest.raises(TypeError, match="unexpected keyword"):
        apm.track_database("redis", colection="typo")
