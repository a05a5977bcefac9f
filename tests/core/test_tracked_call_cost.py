"""The Python work of one tracked call, counted (never timed).

A tracked call costs the SDK's own work, the same as hand-written instrumentation, plus a
few frames of ours. These tests pin those frames by name, so that a change that adds one
to every tracked call (an instrument look-up, a number check, a base hook that does
nothing) fails here rather than as noise in a benchmark.
"""

import sys
from collections import Counter

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.cache import CACHE_OPERATIONS
from autobot_apm.database import DB_DURATION
from autobot_apm.testing import Capture

# What a decorated track_database call runs of ours, each once: the wrapper, start
# (begin, the tracker's _start, the handle and its vocabulary hook) and end (conclude,
# finish, the vocabulary's metric record).
DATABASE_CALL = {
    "call", "begin", "_start", "__init__", "_on_start", "conclude", "finish", "_on_end",
}  # fmt: skip


def work() -> None:
    return None


def our_calls(call) -> Counter:
    """The package's Python functions one call of ``call`` runs, by name."""
    call()  # the first call creates the instruments
    counted: Counter = Counter()

    def profile(frame, event, arg):
        if event == "call" and "autobot_apm" in frame.f_code.co_filename:
            counted[frame.f_code.co_name] += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return counted


def test_a_database_call_runs_only_the_engine_and_its_vocabulary(apm_capture: Capture):
    tracked = apm.track_database("postgresql", operation="SELECT", collection="users")(work)
    calls = our_calls(tracked)
    assert DATABASE_CALL == set(calls)
    assert 1 == max(calls.values())
    assert 2 == len(apm_capture.spans)  # the calls were tracked: the counts are ours


def test_a_cache_call_adds_only_its_hit_check_and_counter(apm_capture: Capture):
    calls = our_calls(apm.track_cache("sessions")(work))
    # The look-up's result decides hit or miss; the counter's add(1) takes its inline path.
    assert DATABASE_CALL | {"_on_result", "_none_is_miss", "add"} == set(calls)
    assert 1 == max(calls.values())
    assert 2 == len(apm_capture.spans)


def test_no_instrument_is_looked_up_in_python(apm_capture: Capture):
    """A recorded metric finds its instrument with the dict's C look-up, no frame of ours."""
    tracked = apm.track_database("postgresql", operation="SELECT")(work)
    calls = our_calls(tracked)
    assert not {"histogram", "counter", "_lookup", "__missing__"} & set(calls)
    runtime = _runtime.current
    assert runtime is not None
    created = runtime.histogram(DB_DURATION)  # by the calls above, once
    assert created is runtime.histogram(DB_DURATION)


def test_the_counters_inline_path_keeps_the_guard(apm_capture: Capture):
    """add(int) on its inline path refuses what the general path refused: an add that
    takes the total past half the int64 range, a bool, a negative number."""
    runtime = _runtime.current
    assert runtime is not None
    counter = runtime.counter(CACHE_OPERATIONS)
    for amount in (2**62 - 2, 1, 1, True, -1):
        counter.add(amount, {"k": "v"})
    points = apm_capture.metrics()["autobot_apm.cache.operations"].data.data_points
    assert [2**62 - 1] == [point.value for point in points]
    assert 3 == counter.rejected
