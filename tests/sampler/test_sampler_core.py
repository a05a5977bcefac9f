"""The sampler itself: snapshots, instruments through the SDK, start/stop, options."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from autobot_apm._tracking.errors import ConfigurationError
from autobot_apm.sampler import Sampler, _start, sampler_from_setting, start_sampler
from autobot_apm.sampler._instruments import attach
from autobot_apm.sampler._types import Absent, MetricSpec, Reading, SourceStatus, gauge
from support import active_sampler

TEMPERATURE = gauge("test.temperature", "Cel", "A made-up gauge.")


class CountingSource:
    """A source whose collections are counted; it reads 20.0 + the collection number."""

    component = "counting"
    metrics: tuple[MetricSpec, ...] = (TEMPERATURE, gauge("test.other", "1", "Another."))

    def __init__(self) -> None:
        self.collections = 0
        self.closed = 0

    def collect(self) -> Iterable[Reading]:
        self.collections += 1
        value = 20.0 + self.collections
        return [Reading("test.temperature", value, {"hw.id": "t0"}), Reading("test.other", 0.5, {})]

    def describe(self) -> list[SourceStatus]:
        return [SourceStatus(self.component, "ok", f"{self.collections} collections")]

    def close(self) -> None:
        self.closed += 1


class BrokenSource(CountingSource):
    component = "broken"

    def collect(self) -> Iterable[Reading]:
        raise RuntimeError("a bug in a source")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def points(reader: InMemoryMetricReader) -> dict[str, list[float]]:
    data = reader.get_metrics_data()
    found: dict[str, list[float]] = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                found[metric.name] = [p.value for p in metric.data.data_points]
    return found


def attached(
    *sources: CountingSource, interval: float = 0.0
) -> tuple[InMemoryMetricReader, Sampler]:
    reader = InMemoryMetricReader()
    sampler = Sampler(list(sources), interval=interval)
    attach(sampler, MeterProvider(metric_readers=[reader]))
    return reader, sampler


class TestSnapshot:
    def test_one_source_read_per_reader_collection(self) -> None:
        """Two instruments, one reader collection: the source is read once."""
        source = CountingSource()
        reader, _ = attached(source)
        points(reader)
        assert 1 == source.collections

    def test_each_reader_collection_reads_anew(self) -> None:
        """With interval 0, every collection of the reader reads the hardware again."""
        source = CountingSource()
        reader, _ = attached(source)
        assert ([21.0], [22.0]) == (
            points(reader)["test.temperature"],
            points(reader)["test.temperature"],
        )

    def test_collection_within_the_interval_reuses_the_snapshot(self) -> None:
        """A second collection sooner than `interval` after the last gets the same values."""
        clock, source = FakeClock(), CountingSource()
        sampler = Sampler([source], interval=5.0, clock=clock)
        first = [sampler.observe(name)[0].value for name in ("test.temperature", "test.other")]
        clock.now += 4.9
        again = sampler.observe("test.temperature")[0].value
        assert ([21.0, 0.5], 21.0, 1) == (first, again, source.collections)

    def test_collection_after_the_interval_reads_again(self) -> None:
        """Once `interval` has passed, the next collection reads the source again."""
        clock, source = FakeClock(), CountingSource()
        sampler = Sampler([source], interval=5.0, clock=clock)
        sampler.observe("test.temperature")
        clock.now += 5.0
        assert 22.0 == sampler.observe("test.temperature")[0].value


class TestThroughTheSdk:
    def test_units_and_attributes_reach_the_reader(self) -> None:
        """Instruments carry the spec's unit; points carry the reading's attributes."""
        reader, _ = attached(CountingSource())
        data = reader.get_metrics_data()
        [metric] = [
            m
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "test.temperature"
        ]
        [point] = metric.data.data_points
        assert ("Cel", {"hw.id": "t0"}) == (metric.unit, dict(point.attributes))

    def test_a_faulty_source_costs_only_its_own_values(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Outside strict mode a bug in one source is contained; the others report."""
        monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")
        reader, _ = attached(BrokenSource(), CountingSource())
        assert [21.0] == points(reader)["test.temperature"]

    def test_strict_mode_makes_faults_loud(self) -> None:
        """Under AUTOBOT_APM_STRICT=1 (the test suite) a bug in a source raises."""
        with pytest.raises(RuntimeError, match="a bug in a source"):
            Sampler([BrokenSource()]).collect()


class TestStartStop:
    def test_stop_ends_the_data(self) -> None:
        """After stop() the instruments report nothing."""
        reader, sampler = attached(CountingSource())
        points(reader)
        sampler.stop()
        assert {} == points(reader)

    def test_stop_is_idempotent(self) -> None:
        """stop() twice closes each source once."""
        source = CountingSource()
        _, sampler = attached(source)
        sampler.stop()
        sampler.stop()
        assert 1 == source.closed

    def test_second_start_replaces_the_first(self) -> None:
        """Starting again on one provider stops the old sampler; one series, not two."""
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        old, new = CountingSource(), CountingSource()
        first = Sampler([old], interval=0)
        attach(first, provider)
        attach(Sampler([new], interval=0), provider)
        found = points(reader)["test.temperature"]
        assert ([21.0], True, 0) == (found, first.stopped, old.collections)

    def test_active_sampler_is_the_latest(self) -> None:
        """active_sampler() names the sampler feeding a provider, None once stopped."""
        provider = MeterProvider()
        sampler = Sampler([CountingSource()])
        attach(sampler, provider)
        active = active_sampler(provider)
        sampler.stop()
        assert (sampler, None) == (active, active_sampler(provider))

    def test_global_provider_when_none_given(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """meter_provider=None uses opentelemetry.metrics.get_meter_provider()."""
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        monkeypatch.setattr(_start.metrics, "get_meter_provider", lambda: provider)
        sampler = start_sampler(host=False, gpu=False, npu=False, interval=0)
        found = points(reader)
        sampler.stop()
        assert "process.memory.usage" in found

    def test_parts_turned_off_are_not_opened(self) -> None:
        """False means off: nothing of that part is registered or described."""
        sampler = start_sampler(meter_provider=MeterProvider(), host=False, gpu=False, npu=False)
        components = {status.component for status in sampler.describe()}
        sampler.stop()
        assert {"process"} == components

    def test_describe_lists_absent_parts(self) -> None:
        """describe() has a line for a part that is missing, with the reason."""
        sampler = Sampler([], absent=[Absent("npu", "no accel devices")])
        assert [SourceStatus("npu", "absent", "no accel devices")] == sampler.describe()


class TestOptions:
    @pytest.mark.parametrize("value", ["maybe", 1, None, 2.5])
    def test_bad_part_value(self, value: object) -> None:
        """A part must be True, False or 'auto'; anything else names the setting."""
        with pytest.raises(ConfigurationError) as caught:
            start_sampler(meter_provider=MeterProvider(), gpu=value)  # type: ignore[arg-type]
        assert "sampler.gpu" == caught.value.setting

    @pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "5", True])
    def test_bad_interval(self, value: object) -> None:
        """interval must be a finite number of seconds >= 0."""
        with pytest.raises(ConfigurationError, match=r"sampler\.interval"):
            start_sampler(meter_provider=MeterProvider(), interval=value)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("value", "mode"),
        [("on", "required"), (" Auto ", "auto"), ("OFF", "off"), (True, "required")],
    )
    def test_words_for_parts(self, value: object, mode: str) -> None:
        """Parts also accept on/off/auto in any case, as configuration files write them."""
        assert mode == _start.parse_mode("host", value)  # type: ignore[arg-type]


class TestFromSetting:
    def test_none_and_false_start_nothing(self) -> None:
        """configure(sampler=None or False) starts no sampler."""
        assert (None, None) == (sampler_from_setting(None), sampler_from_setting(False))

    def test_mapping_is_passed_as_options(self) -> None:
        """configure(sampler={...}) passes the options on to start_sampler()."""
        sampler = sampler_from_setting(
            {"host": False, "gpu": False, "npu": False, "interval": 7},
            meter_provider=MeterProvider(),
        )
        assert sampler is not None
        sampler.stop()
        assert 7.0 == sampler.interval

    def test_unknown_option_is_a_configuration_error(self) -> None:
        """A misspelt option fails loudly, naming it."""
        with pytest.raises(ConfigurationError, match="unknown option 'gpus'"):
            sampler_from_setting({"gpus": True}, meter_provider=MeterProvider())

    def test_other_values_are_rejected(self) -> None:
        """A value that is neither bool, None nor a mapping is a ConfigurationError."""
        with pytest.raises(ConfigurationError, match="expected True, False or a mapping"):
            sampler_from_setting("yes please")
