"""autobot_apm.testing's fake clock: exact durations, and no clock reading escapes it."""

import re
import time
from pathlib import Path

import opentelemetry.sdk.trace as sdk_trace
import pytest

import autobot_apm as apm
from autobot_apm import testing
from autobot_apm._tracking import handle

PACKAGE = Path(apm.__file__).parent
READS_THE_TIME = re.compile(r"\b(perf_counter|time_ns|monotonic|time\.time)\(")

# Modules that read the time for something other than telemetry (waits, deadlines, the
# demo's progress) or that take a clock parameter of their own (the sampler).
NOT_TELEMETRY_TIME = {
    "cli.py",
    "_sdk/setup.py",
    "receiver/_http.py",
    "receiver/_store.py",
}
OWN_CLOCK_PARAMETER = ("sampler/", "_demo/")


def _module_path(module_name: str) -> str:
    return module_name.removeprefix("autobot_apm.").replace(".", "/") + ".py"


class TestFakeClock:
    def test_span_times_and_duration_metric_follow_the_clock(self, apm_capture, apm_clock):
        """A call during which the clock moves 0.25 s lasts exactly 0.25 s, everywhere."""
        with apm.track_operation("checkout"):
            apm_clock.advance(0.25)
        span = apm_capture.span("checkout")
        assert apm_clock.start_ns == span.start_time
        assert 250_000_000 == span.end_time - span.start_time
        (point,) = apm_capture.metric_points("autobot_apm.operation.duration")
        assert 0.25 == point.sum

    def test_a_stopped_clock_gives_zero_durations(self, apm_capture, apm_clock):
        with apm.track_operation("instant"):
            pass
        span = apm_capture.span("instant")
        assert 0 == span.end_time - span.start_time

    def test_the_clock_cannot_go_back(self):
        with pytest.raises(ValueError, match="cannot go back"):
            testing.FakeClock().advance(-1)

    def test_leaving_restores_the_real_clocks(self):
        with testing.fake_clock():
            assert handle.perf_counter is not time.perf_counter
        assert handle.perf_counter is time.perf_counter
        assert sdk_trace.time_ns is time.time_ns

    def test_every_telemetry_clock_reading_is_faked(self):
        """A module that starts reading the time must be added to _CLOCK_READERS."""
        readers = set()
        for path in PACKAGE.rglob("*.py"):
            relative = path.relative_to(PACKAGE).as_posix()
            if relative == "testing.py" or relative.startswith(OWN_CLOCK_PARAMETER):
                continue
            if READS_THE_TIME.search(path.read_text()):
                readers.add(relative)
        faked = {
            _module_path(module) for module, _ in testing._CLOCK_READERS if "autobot_apm" in module
        }
        assert faked | NOT_TELEMETRY_TIME == readers
