"""Intel NPUs, read from a fake intel_vpu sysfs tree under tmp_path."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from autobot_apm.sampler import start_sampler
from autobot_apm.sampler._devices import FAILURE_LIMIT, REPROBE_SECONDS
from autobot_apm.sampler._types import Absent
from autobot_apm.sampler.npu import NpuSource, open_npu

ALL_FILES = {
    "npu_busy_time_us": "1000000",
    "npu_memory_utilization": "268435456",
    "npu_current_frequency_mhz": "1400",
    "npu_max_frequency_mhz": "1850",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def make_npu(root: Path, name: str = "accel0", files: dict[str, str] | None = None) -> Path:
    """An accel device as the intel_vpu driver lays it out in sysfs."""
    device = root / name / "device"
    device.mkdir(parents=True)
    (device / "uevent").write_text("DRIVER=intel_vpu\nPCI_SLOT_NAME=0000:00:0b.0\n")
    for file, content in (ALL_FILES if files is None else files).items():
        (device / file).write_text(content + "\n")
    return device


def opened(root: Path, clock: FakeClock | None = None) -> NpuSource:
    source = open_npu(root, clock or FakeClock())
    assert isinstance(source, NpuSource), source
    return source


def values(source: Any) -> dict[str, float]:
    return {reading.metric: reading.value for reading in source.collect()}


class TestNpuReadings:
    def test_utilization_is_busy_time_over_wall_time(self, tmp_path: Path) -> None:
        """0.25 s busy in 1 s of wall time is a utilization of 0.25."""
        clock = FakeClock()
        device = make_npu(tmp_path)
        source = opened(tmp_path, clock)
        (device / "npu_busy_time_us").write_text("1250000\n")
        clock.now += 1.0
        assert 0.25 == values(source)["hw.npu.utilization"]

    def test_first_collection_has_a_utilization(self, tmp_path: Path) -> None:
        """The busy counter is primed when the NPU is found: no empty first reading."""
        clock = FakeClock()
        make_npu(tmp_path)
        source = opened(tmp_path, clock)
        clock.now += 2.0
        assert 0.0 == values(source)["hw.npu.utilization"]

    def test_memory_in_bytes_and_frequencies_in_hertz(self, tmp_path: Path) -> None:
        """npu_memory_utilization is bytes; the MHz files become Hz."""
        make_npu(tmp_path)
        found = values(opened(tmp_path))
        assert (268435456, 1.4e9, 1.85e9) == (
            found["hw.npu.memory.usage"],
            found["hw.npu.frequency"],
            found["hw.npu.frequency.limit"],
        )

    def test_attributes_name_the_device(self, tmp_path: Path) -> None:
        """hw.id is the PCI address from uevent; hw.name the accel device; vendor Intel."""
        make_npu(tmp_path)
        [reading, *_] = opened(tmp_path).collect()
        expected = {"hw.id": "0000:00:0b.0", "hw.name": "accel0", "hw.vendor": "Intel"}
        assert expected == dict(reading.attributes)

    def test_only_the_files_that_exist(self, tmp_path: Path) -> None:
        """A 6.10 kernel has only npu_busy_time_us: only utilization is reported."""
        clock = FakeClock()
        make_npu(tmp_path, files={"npu_busy_time_us": "0"})
        source = opened(tmp_path, clock)
        clock.now += 1.0
        assert ["hw.npu.utilization"] == list(values(source))

    def test_utilization_capped_at_one(self, tmp_path: Path) -> None:
        """Busy time that outruns wall time (rounding in the driver) reports 1, not more."""
        clock = FakeClock()
        device = make_npu(tmp_path)
        source = opened(tmp_path, clock)
        (device / "npu_busy_time_us").write_text("3000000\n")
        clock.now += 1.0
        assert 1.0 == values(source)["hw.npu.utilization"]

    def test_counter_reset_gives_no_utilization_once(self, tmp_path: Path) -> None:
        """A busy counter that went backwards (driver reload) skips one utilization."""
        clock = FakeClock()
        device = make_npu(tmp_path)
        source = opened(tmp_path, clock)
        (device / "npu_busy_time_us").write_text("10\n")
        clock.now += 1.0
        first = values(source)
        clock.now += 1.0
        assert ("hw.npu.utilization" in first, 0.0) == (False, values(source)["hw.npu.utilization"])


class TestNpuAbsent:
    def test_missing_root(self, tmp_path: Path) -> None:
        """No sysfs accel class: absent, saying the directory does not exist."""
        absent = open_npu(tmp_path / "missing")
        assert (Absent, True) == (type(absent), "does not exist" in absent.reason)

    def test_no_accel_devices(self, tmp_path: Path) -> None:
        """An empty accel class: absent, no devices."""
        absent = open_npu(tmp_path)
        assert isinstance(absent, Absent)
        assert f"no accel devices under {tmp_path}" == absent.reason

    def test_accel_device_of_another_driver(self, tmp_path: Path) -> None:
        """An accel device without npu_* files (another driver) is named in the reason."""
        make_npu(tmp_path, "accel3", files={})
        absent = open_npu(tmp_path)
        assert (Absent, True) == (type(absent), "accel3" in absent.reason)

    def test_sampler_without_npu_has_no_npu_gauges(self, tmp_path: Path) -> None:
        """npu='auto' with no NPU: no hw.npu.* metric registered."""
        reader = InMemoryMetricReader()
        sampler = start_sampler(
            meter_provider=MeterProvider(metric_readers=[reader]),
            host=False,
            gpu=False,
            npu_sysfs_root=str(tmp_path),
        )
        data = reader.get_metrics_data()
        sampler.stop()
        names = (
            {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
            if data
            else set()
        )
        assert set() == {name for name in names if name.startswith("hw.npu")}


class TestNpuFaults:
    def test_malformed_file_skips_its_value(self, tmp_path: Path) -> None:
        """A file holding garbage loses only its value; the others are reported."""
        device = make_npu(tmp_path)
        source = opened(tmp_path)
        (device / "npu_current_frequency_mhz").write_text("fast\n")
        found = values(source)
        assert ("hw.npu.frequency" in found, "hw.npu.memory.usage" in found) == (False, True)

    def test_unreadable_file_skips_its_value(self, tmp_path: Path) -> None:
        """A file that cannot be read (here a directory in its place) is skipped."""
        device = make_npu(tmp_path)
        source = opened(tmp_path)
        (device / "npu_memory_utilization").unlink()
        (device / "npu_memory_utilization").mkdir()
        found = values(source)
        assert ("hw.npu.memory.usage" in found, "hw.npu.frequency" in found) == (False, True)

    def test_describe_names_the_unreadable_file(self, tmp_path: Path) -> None:
        """describe() says which file could not be read."""
        device = make_npu(tmp_path)
        source = opened(tmp_path)
        (device / "npu_max_frequency_mhz").write_text("\n")
        source.collect()
        assert "npu_max_frequency_mhz" in source.describe()[0].detail

    def test_unplugged_npu_is_marked_gone(self, tmp_path: Path) -> None:
        """All files vanishing for FAILURE_LIMIT collections marks the NPU gone."""
        make_npu(tmp_path)
        source = opened(tmp_path)
        shutil.rmtree(tmp_path / "accel0")
        for _ in range(FAILURE_LIMIT):
            source.collect()
        assert "gone" == source.describe()[0].status

    def test_replugged_npu_comes_back(self, tmp_path: Path) -> None:
        """An NPU that returns is found again at the next re-probe."""
        clock = FakeClock()
        make_npu(tmp_path)
        source = opened(tmp_path, clock)
        shutil.rmtree(tmp_path / "accel0")
        for _ in range(FAILURE_LIMIT):
            source.collect()
        make_npu(tmp_path)
        clock.now += REPROBE_SECONDS
        assert (268435456, "ok") == (
            values(source)["hw.npu.memory.usage"],
            source.describe()[0].status,
        )

    @pytest.mark.parametrize("content", ["", "-", "12abc", "1.5e3"])
    def test_never_raises_on_odd_content(self, tmp_path: Path, content: str) -> None:
        """Whatever a file holds, collection returns readings instead of raising."""
        make_npu(tmp_path, files=dict.fromkeys(ALL_FILES, content))
        assert [] == opened(tmp_path).collect()
