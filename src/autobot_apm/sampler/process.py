"""Gauges of this process from psutil: CPU, memory, threads, open file descriptors.

Names follow the OpenTelemetry process semantic conventions (release candidate). The
process itself is identified by the resource (``process.pid`` and friends), so these
metrics carry only ``cpu.mode`` where the convention asks for it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import psutil

from ._rows import Values, read_rows, skipped_statuses
from ._types import OK, Clock, MetricSpec, Reading, SourceStatus, counter, gauge, updown

__all__ = ["ProcessSource"]


def usable_cpu_count() -> int:
    """CPUs this process may run on: the affinity mask where the OS has one."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class CpuRate:
    """This process's CPU time per mode, as a share of the CPUs available, between updates."""

    def __init__(self, seconds: Mapping[str, float], at: float, cpus: int) -> None:
        self._last, self._last_at, self._cpus = dict(seconds), at, cpus

    def update(self, seconds: Mapping[str, float], at: float) -> dict[str, float]:
        elapsed = (at - self._last_at) * self._cpus
        spent = {mode: value - self._last.get(mode, 0.0) for mode, value in seconds.items()}
        self._last, self._last_at = dict(seconds), at
        if elapsed <= 0:
            return {}  # two collections at the same instant: no rate to report
        return {mode: max(0.0, value) / elapsed for mode, value in spent.items()}


def process_cpu_seconds(process: psutil.Process) -> dict[str, float]:
    times = process.cpu_times()
    return {"user": float(times.user), "system": float(times.system)}


class _ProcessReads:
    """The psutil calls of one collection, inside one ``oneshot`` so /proc is read once."""

    def __init__(self, source: ProcessSource) -> None:
        self._source = source
        self._process = source.process

    @cached_property
    def cpu_seconds(self) -> dict[str, float]:
        return process_cpu_seconds(self._process)

    @cached_property
    def cpu_rate(self) -> dict[str, float]:
        return self._source.cpu.update(self.cpu_seconds, self._source.clock())

    @cached_property
    def memory(self) -> Any:
        return self._process.memory_info()

    def threads(self) -> Values:
        return [(self._process.num_threads(), {})]

    def file_descriptors(self) -> Values:
        return [(self._process.num_fds(), {})]


Row = tuple[MetricSpec, Callable[[_ProcessReads], Values]]

# Windows has handles, not file descriptors.
FD_ROWS: tuple[Row, ...] = (
    ((updown("process.unix.file_descriptor.count", "{file_descriptor}",
             "File descriptors this process has open."),
      _ProcessReads.file_descriptors),)
    if hasattr(psutil.Process, "num_fds") else ()
)  # fmt: skip

ROWS: tuple[Row, ...] = (
    (counter("process.cpu.time", "s", "CPU time of this process in each mode."),
     lambda r: ((s, {"cpu.mode": m}) for m, s in r.cpu_seconds.items())),
    (gauge("process.cpu.utilization", "1",
           "CPU time since the previous collection over elapsed time and available CPUs."),
     lambda r: ((v, {"cpu.mode": m}) for m, v in r.cpu_rate.items())),
    (updown("process.memory.usage", "By", "Resident memory (RSS) of this process."),
     lambda r: [(r.memory.rss, {})]),
    (updown("process.memory.virtual", "By", "Virtual memory of this process."),
     lambda r: [(r.memory.vms, {})]),
    (updown("process.thread.count", "{thread}", "Threads of this process."),
     _ProcessReads.threads),
    *FD_ROWS,
)  # fmt: skip


class ProcessSource:
    """CPU, memory, threads and file descriptors of the current process."""

    component = "process"
    metrics = tuple(spec for spec, _ in ROWS)

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._start()
        self.skipped: dict[str, str] = {}

    def _start(self) -> None:
        """Bind to the current pid and prime the CPU counters (again after a fork)."""
        self.pid = os.getpid()
        self.process = psutil.Process(self.pid)
        self.cpu = CpuRate(process_cpu_seconds(self.process), self.clock(), usable_cpu_count())

    def collect(self) -> list[Reading]:
        if os.getpid() != self.pid:
            self._start()  # a forked worker must report itself, not its parent
        with self.process.oneshot():
            return read_rows(ROWS, _ProcessReads(self), self.skipped)

    def describe(self) -> list[SourceStatus]:
        detail = f"pid {self.pid}, {usable_cpu_count()} CPUs available to it"
        return [SourceStatus("process", OK, detail), *skipped_statuses("process", self.skipped)]

    def close(self) -> None:
        return None
