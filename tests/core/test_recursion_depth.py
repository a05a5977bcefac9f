"""What a tracked call costs a recursive function: frames per level, and what happens at
the recursion limit.

A tracked level of a plain function is the user's frame plus the tracker's wrapper frame,
a plain Python function called directly: two units of ``sys.getrecursionlimit()`` where an
untracked level costs one (docs/reliability.md). No C call sits in between, so Python
3.11 counts nothing else. At the limit the user's RecursionError comes out as raised and
the context is restored.
"""

import functools
import sys
from itertools import pairwise

import pytest
from opentelemetry import trace

import autobot_apm as apm
from autobot_apm.testing import capture_telemetry

LEVELS = 5


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def _frames_per_level(decorate) -> set[int]:
    depths: list[int] = []

    @decorate
    def recurse(level: int) -> int:
        depths.append(_depth())
        return recurse(level - 1) if level else 0

    recurse(LEVELS)
    return {inner - outer for outer, inner in pairwise(depths)}


def _deepest(decorate, limit: int) -> int:
    """The deepest recursion that completes under ``limit`` (binary search)."""

    @decorate
    def recurse(level: int) -> int:
        return recurse(level - 1) if level else 0

    def completes(depth: int) -> bool:
        try:
            recurse(depth)
        except RecursionError:
            return False
        return True

    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        low, high = 0, limit  # completes(low), not completes(high)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if completes(middle) else (low, middle)
        return low
    finally:
        sys.setrecursionlimit(previous)


class TestFramesPerLevel:
    def test_a_tracked_level_is_two_python_frames(self):
        """The user's frame and one wrapper frame; nothing else stays on the stack."""
        with capture_telemetry():
            assert {2} == _frames_per_level(apm.track_operation("level"))
        assert {1} == _frames_per_level(lambda fn: fn)

    def test_a_tracked_level_costs_two_recursion_units(self):
        """Measured, not assumed: under a limit of 300 the tracked recursion reaches half
        the untracked depth, less a constant (the stack of the last span)."""
        with capture_telemetry():
            tracked = _deepest(apm.track_operation("level"), 300)
        untracked = _deepest(lambda fn: fn, 300)
        assert untracked <= 2 * tracked + 20


def _pass_through(fn):
    """The least a Python decorator can add to each level: one frame that calls ``fn``."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        return fn(*args, **kwargs)

    return call


class TestAgainstOtherDecorators:
    def test_tracked_recursion_goes_as_deep_as_under_a_pass_through_decorator(self):
        """No decorator written in Python does better: the tracked depth is that of one
        that only calls through, less the stack of the last span."""
        with capture_telemetry():
            tracked = _deepest(apm.track_operation("level"), 300)
        assert _deepest(_pass_through, 300) - 10 <= tracked


class TestAtTheLimit:
    def test_the_users_recursion_error_comes_out_and_the_context_is_restored(self, monkeypatch):
        """Production mode (faults contained): whichever frame hits the limit, the caller
        gets a RecursionError, and no span or handle is left current."""
        monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")

        @apm.track_operation("forever")
        def forever(level: int) -> int:
            return forever(level + 1)

        with capture_telemetry() as capture:
            inert = apm.current_operation()  # outside any tracked call
            with pytest.raises(RecursionError):
                forever(0)
            assert not trace.get_current_span().get_span_context().is_valid
            assert inert is apm.current_operation()  # no handle of `forever` left current
            with apm.track_operation("after") as op:
                assert op is apm.current_operation()
        assert capture.spans[-1].name == "after"
