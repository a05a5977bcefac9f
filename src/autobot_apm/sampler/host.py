"""Host gauges from psutil: CPU, memory, disk and network I/O, filesystems, load average.

Names follow the OpenTelemetry system semantic conventions (``system.*``, development
status); the load average has no convention yet and uses the OpenTelemetry Collector's
``system.cpu.load_average.*`` names. Each collection makes each psutil call at most once,
through :class:`_HostReads`, and a failing call skips only the rows that need it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import Any

import psutil

from ._mounts import MOUNT_REFRESH_SECONDS, Mount, list_mounts
from ._rows import Values, read_rows, skipped_statuses
from ._types import OK, Clock, MetricSpec, Reading, SourceStatus, counter, gauge, updown

__all__ = ["HostSource"]


# psutil's field -> semconv cpu.mode; irq and softirq are both "interrupt". Guest time is
# left out because Linux already counts it inside user and nice.
CPU_MODES = (
    ("user", "user"),
    ("nice", "nice"),
    ("system", "system"),
    ("idle", "idle"),
    ("iowait", "iowait"),
    ("irq", "interrupt"),
    ("softirq", "interrupt"),
    ("steal", "steal"),
)
MEMORY_STATES = ("used", "free", "cached", "buffers")
# Loop and RAM block devices are images and ramdisks, not disks anyone monitors.
IGNORED_DISK_PREFIXES = ("loop", "ram")


def cpu_mode_seconds(times: Any) -> dict[str, float]:
    """Seconds per semconv cpu.mode from a psutil cpu_times() tuple."""
    seconds: dict[str, float] = {}
    for field, mode in CPU_MODES:
        value = getattr(times, field, None)
        if value is not None:
            seconds[mode] = seconds.get(mode, 0.0) + float(value)
    return seconds


class CpuShares:
    """Share of CPU time spent in each mode since the previous update."""

    def __init__(self, primed: Mapping[str, float]) -> None:
        self._last = dict(primed)

    def update(self, now: Mapping[str, float]) -> dict[str, float]:
        spent = {mode: value - self._last.get(mode, 0.0) for mode, value in now.items()}
        self._last = dict(now)
        total = sum(spent.values())
        if total <= 0:
            return {}  # no clock tick since the last update: any share would be a bogus 0
        return {mode: max(0.0, value) / total for mode, value in spent.items()}


class _HostReads:
    """The psutil calls of one collection, each made once and only if a row asks."""

    def __init__(self, source: HostSource) -> None:
        self._source = source

    @cached_property
    def cpu_seconds(self) -> dict[str, float]:
        return cpu_mode_seconds(psutil.cpu_times())

    @cached_property
    def cpu_shares(self) -> dict[str, float]:
        return self._source.cpu.update(self.cpu_seconds)

    @cached_property
    def memory(self) -> Any:
        return psutil.virtual_memory()

    @cached_property
    def disks(self) -> dict[str, Any]:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        return {n: c for n, c in counters.items() if not n.startswith(IGNORED_DISK_PREFIXES)}

    @cached_property
    def networks(self) -> dict[str, Any]:
        return psutil.net_io_counters(pernic=True) or {}

    @cached_property
    def filesystems(self) -> list[tuple[Mount, Any]]:
        usages = []
        for mount in self._source.mounts():
            try:
                usages.append((mount, psutil.disk_usage(mount.mountpoint)))
            except OSError:
                continue  # unmounted since it was listed
        return usages


def _cpu_time(reads: _HostReads) -> Values:
    return ((s, {"cpu.mode": mode}) for mode, s in reads.cpu_seconds.items())


def _cpu_utilization(reads: _HostReads) -> Values:
    return ((share, {"cpu.mode": mode}) for mode, share in reads.cpu_shares.items())


def _memory_states(reads: _HostReads) -> Iterable[tuple[str, float]]:
    for state in MEMORY_STATES:
        value = getattr(reads.memory, state, None)
        if value is not None:
            yield state, float(value)


def _memory_usage(reads: _HostReads) -> Values:
    return ((v, {"system.memory.state": s}) for s, v in _memory_states(reads))


def _memory_utilization(reads: _HostReads) -> Values:
    total = float(reads.memory.total)
    return ((v / total, {"system.memory.state": s}) for s, v in _memory_states(reads))


def _memory_limit(reads: _HostReads) -> Values:
    return [(float(reads.memory.total), {})]


def _disk_io(reads: _HostReads) -> Values:
    for device, io in reads.disks.items():
        yield io.read_bytes, {"system.device": device, "disk.io.direction": "read"}
        yield io.write_bytes, {"system.device": device, "disk.io.direction": "write"}


def _network_io(reads: _HostReads) -> Values:
    for name, io in reads.networks.items():
        yield io.bytes_recv, {"network.interface.name": name, "network.io.direction": "receive"}
        yield io.bytes_sent, {"network.interface.name": name, "network.io.direction": "transmit"}


def _filesystem_states(reads: _HostReads) -> Iterable[tuple[float, float, dict[str, str]]]:
    for mount, usage in reads.filesystems:
        base = {
            "system.device": mount.device,
            "system.filesystem.mountpoint": mount.mountpoint,
            "system.filesystem.type": mount.fstype,
        }
        reserved = max(0, usage.total - usage.used - usage.free)
        for state, value in (("used", usage.used), ("free", usage.free), ("reserved", reserved)):
            yield float(value), float(usage.total), {**base, "system.filesystem.state": state}


def _filesystem_usage(reads: _HostReads) -> Values:
    return ((value, attrs) for value, _, attrs in _filesystem_states(reads))


def _filesystem_utilization(reads: _HostReads) -> Values:
    return ((v / total, attrs) for v, total, attrs in _filesystem_states(reads) if total > 0)


def _load_average(index: int) -> Callable[[_HostReads], Values]:
    def read(reads: _HostReads) -> Values:
        return [(os.getloadavg()[index], {})]

    return read


Row = tuple[MetricSpec, Callable[[_HostReads], Values]]

# os.getloadavg does not exist on Windows.
LOAD_ROWS: tuple[Row, ...] = tuple(
    (gauge(f"system.cpu.load_average.{span}", "{thread}",
           f"Load average over {span} (non-standard; OpenTelemetry Collector name)."),
     _load_average(index))
    for index, span in enumerate(("1m", "5m", "15m"))
    if hasattr(os, "getloadavg")
)  # fmt: skip

ROWS: tuple[Row, ...] = (
    (counter("system.cpu.time", "s", "CPU time spent in each mode, all CPUs together."),
     _cpu_time),
    (gauge("system.cpu.utilization", "1",
           "Share of CPU time in each mode since the previous collection (0..1)."),
     _cpu_utilization),
    (updown("system.memory.usage", "By", "Memory in each state."), _memory_usage),
    (gauge("system.memory.utilization", "1", "Share of memory in each state (0..1)."),
     _memory_utilization),
    (updown("system.memory.limit", "By", "Total physical memory."), _memory_limit),
    (counter("system.disk.io", "By", "Bytes read from and written to each disk."), _disk_io),
    (counter("system.network.io", "By", "Bytes received and sent on each interface."),
     _network_io),
    (updown("system.filesystem.usage", "By", "Filesystem space in each state."),
     _filesystem_usage),
    (gauge("system.filesystem.utilization", "1", "Share of filesystem space in each state."),
     _filesystem_utilization),
    *LOAD_ROWS,
)  # fmt: skip


class HostSource:
    """Host-wide CPU, memory, disk, network and filesystem gauges."""

    component = "host"
    metrics = tuple(spec for spec, _ in ROWS)

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        # Primed now, so the first collection reports usage since start, never a bogus 0.
        self.cpu = CpuShares(cpu_mode_seconds(psutil.cpu_times()))
        self._mounts: list[Mount] = []
        self._mounts_read_at: float | None = None
        self.skipped: dict[str, str] = {}

    def collect(self) -> list[Reading]:
        return read_rows(ROWS, _HostReads(self), self.skipped)

    def mounts(self) -> list[Mount]:
        now = self._clock()
        if self._mounts_read_at is None or now - self._mounts_read_at >= MOUNT_REFRESH_SECONDS:
            self._mounts = list_mounts()
            self._mounts_read_at = now
        return self._mounts

    def describe(self) -> list[SourceStatus]:
        logical = psutil.cpu_count(logical=True) or 0
        physical = psutil.cpu_count(logical=False) or 0
        memory = psutil.virtual_memory()
        statuses = [
            SourceStatus("cpu", OK, f"{logical} logical CPUs ({physical} physical cores)"),
            SourceStatus(
                "memory", OK, f"{memory.total / 2**30:.1f} GiB total, {memory.percent:.0f}% used"
            ),
        ]
        return statuses + skipped_statuses("host", self.skipped)

    def close(self) -> None:
        return None
