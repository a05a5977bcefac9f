"""Host gauges from psutil: names, units, the CPU priming, and skipping failed calls."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from autobot_apm.sampler import host
from autobot_apm.sampler.host import (
    MOUNT_REFRESH_SECONDS,
    CpuShares,
    HostSource,
    cpu_mode_seconds,
    list_mounts,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def by_metric(source: HostSource) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for reading in source.collect():
        found.setdefault(reading.metric, []).append((dict(reading.attributes), reading.value))
    return found


def partition(device: str, mountpoint: str, opts: str = "rw,relatime") -> Any:
    return SimpleNamespace(device=device, mountpoint=mountpoint, fstype="ext4", opts=opts)


class TestHostMetrics:
    def test_semconv_names_and_units(self) -> None:
        """Every declared metric uses the semconv unit for its kind."""
        units = {spec.name: spec.unit for spec in HostSource.metrics}
        assert ("1", "By", "By", "By", "s") == (
            units["system.cpu.utilization"],
            units["system.memory.usage"],
            units["system.disk.io"],
            units["system.network.io"],
            units["system.cpu.time"],
        )

    def test_memory_states_add_up_to_the_limit(self) -> None:
        """used + free + cached + buffers is the total memory, as on Linux."""
        found = by_metric(HostSource())
        [(_, limit)] = found["system.memory.limit"]
        total = sum(value for _, value in found["system.memory.usage"])
        assert limit == pytest.approx(total, rel=0.05)

    def test_utilizations_are_fractions(self) -> None:
        """CPU, memory and filesystem utilization are 0..1, never percent."""
        found = by_metric(HostSource())
        shares = [
            v
            for name in ("system.memory.utilization", "system.filesystem.utilization")
            for _, v in found.get(name, [])
        ]
        assert [] == [share for share in shares if not 0.0 <= share <= 1.0]

    def test_cpu_modes_are_semconv_values(self) -> None:
        """cpu.mode uses semconv's words: irq and softirq become 'interrupt'."""
        times = SimpleNamespace(
            user=1, nice=0, system=2, idle=3, iowait=0, irq=4, softirq=5, steal=0, guest=9
        )
        assert {
            "user": 1,
            "nice": 0,
            "system": 2,
            "idle": 3,
            "iowait": 0,
            "interrupt": 9,
            "steal": 0,
        } == cpu_mode_seconds(times)


class TestCpuPriming:
    def test_first_update_reports_the_time_since_priming(self) -> None:
        """Primed at start, the first collection has real shares."""
        shares = CpuShares({"user": 10.0, "idle": 10.0})
        assert {"user": 0.25, "idle": 0.75} == shares.update({"user": 11.0, "idle": 13.0})

    def test_no_tick_means_no_value_rather_than_zero(self) -> None:
        """Two collections within one clock tick report nothing, not a bogus 0."""
        shares = CpuShares({"user": 10.0, "idle": 10.0})
        assert {} == shares.update({"user": 10.0, "idle": 10.0})

    def test_collection_within_a_tick_has_no_cpu_utilization(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the CPU counters did not move since start, no utilization series at all."""
        monkeypatch.setattr(host.psutil, "cpu_times", lambda: cpu_times(user=5, idle=5))
        assert "system.cpu.utilization" not in by_metric(HostSource())

    def test_first_collection_uses_the_primed_counters(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first collection reports shares of the time since start_sampler()."""
        readings = iter([cpu_times(user=5, idle=5), cpu_times(user=6, idle=8)])
        monkeypatch.setattr(host.psutil, "cpu_times", lambda: next(readings))
        found = dict(
            (a["cpu.mode"], v) for a, v in by_metric(HostSource())["system.cpu.utilization"]
        )
        assert {"user": 0.25, "idle": 0.75} == found


def cpu_times(**modes: float) -> Any:
    return SimpleNamespace(**modes)


class TestHostFaults:
    def test_failed_call_skips_only_its_metrics(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """psutil failing on the network counters leaves the other metrics in place."""

        def denied(**_: Any) -> None:
            raise psutil.AccessDenied()

        monkeypatch.setattr(host.psutil, "net_io_counters", denied)
        source = HostSource()
        found = by_metric(source)
        assert ("system.network.io" in found, "system.memory.usage" in found) == (False, True)

    def test_failed_call_shows_in_describe(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """describe() lists the metrics that were skipped and why."""

        def broken(**_: Any) -> None:
            raise OSError("no /proc/diskstats")

        monkeypatch.setattr(host.psutil, "disk_io_counters", broken)
        source = HostSource()
        source.collect()
        skipped = [s for s in source.describe() if s.status == "skipped"]
        assert ["host system.disk.io"] == [s.component for s in skipped]

    def test_loop_devices_are_left_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Loop and RAM block devices are not reported as disks."""
        counters = SimpleNamespace(read_bytes=1, write_bytes=2)
        fake = {"loop0": counters, "ram1": counters, "nvme0n1": counters}
        monkeypatch.setattr(host.psutil, "disk_io_counters", lambda **_: fake)
        devices = {a["system.device"] for a, _ in by_metric(HostSource())["system.disk.io"]}
        assert {"nvme0n1"} == devices

    def test_no_disks_at_all(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """psutil returning None for disks (some containers) means no disk series."""
        monkeypatch.setattr(host.psutil, "disk_io_counters", lambda **_: None)
        assert "system.disk.io" not in by_metric(HostSource())


class TestMounts:
    def test_one_mountpoint_per_device(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A device bind-mounted many times is reported once, at its shortest path."""
        parts = [
            partition("/dev/vda1", "/etc/hosts"),
            partition("/dev/vda1", "/"),
            partition("/dev/vdb", "/data"),
        ]
        monkeypatch.setattr(host.psutil, "disk_partitions", lambda all: parts)
        assert ["/", "/data"] == [mount.mountpoint for mount in list_mounts()]

    def test_read_only_filesystems_are_left_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A read-only image (squashfs) is always full: not worth a series."""
        parts = [
            partition("/dev/vdb", "/usr/local/nvidia", "ro,relatime"),
            partition("/dev/vda", "/"),
        ]
        monkeypatch.setattr(host.psutil, "disk_partitions", lambda all: parts)
        assert ["/"] == [mount.mountpoint for mount in list_mounts()]

    def test_mounts_listed_again_only_after_a_while(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Listing mounts is costly: once per MOUNT_REFRESH_SECONDS."""
        calls = []
        monkeypatch.setattr(host, "list_mounts", lambda: calls.append(1) or [])
        clock = FakeClock()
        source = HostSource(clock)
        source.collect()
        clock.now += MOUNT_REFRESH_SECONDS / 2
        source.collect()
        clock.now += MOUNT_REFRESH_SECONDS
        source.collect()
        assert 2 == len(calls)

    def test_unmounted_filesystem_is_skipped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A mount that disappeared since it was listed costs only its own series."""
        parts = [partition("/dev/gone", "/nonexistent-mount"), partition("/dev/vda", "/")]
        monkeypatch.setattr(host.psutil, "disk_partitions", lambda all: parts)
        usage = by_metric(HostSource())["system.filesystem.usage"]
        assert {"/"} == {attributes["system.filesystem.mountpoint"] for attributes, _ in usage}
