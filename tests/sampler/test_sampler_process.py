"""Gauges of the current process: CPU, memory, threads, file descriptors."""

from __future__ import annotations

import os
import threading

import psutil
import pytest

from autobot_apm.sampler import process
from autobot_apm.sampler.process import CpuRate, ProcessSource


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def values(source: ProcessSource) -> dict[tuple[str, str], float]:
    return {(r.metric, r.attributes.get("cpu.mode", "")): r.value for r in source.collect()}


class TestProcessMetrics:
    def test_resident_memory_matches_psutil(self) -> None:
        """process.memory.usage is the RSS, in bytes."""
        rss = psutil.Process().memory_info().rss
        assert rss == pytest.approx(values(ProcessSource())[("process.memory.usage", "")], rel=0.2)

    def test_thread_count_sees_a_new_thread(self) -> None:
        """process.thread.count counts the threads of this process."""
        source = ProcessSource()
        before = values(source)[("process.thread.count", "")]
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)
        worker.start()
        try:
            during = values(source)[("process.thread.count", "")]
        finally:
            stop.set()
            worker.join()
        assert 1 == during - before

    @pytest.mark.skipif(not hasattr(psutil.Process, "num_fds"), reason="POSIX only")
    def test_file_descriptor_count_sees_an_open_file(self) -> None:
        """process.unix.file_descriptor.count rises by one for an open file."""
        source = ProcessSource()
        before = values(source)[("process.unix.file_descriptor.count", "")]
        with open(os.devnull):
            during = values(source)[("process.unix.file_descriptor.count", "")]
        assert 1 == during - before

    def test_cpu_time_by_mode(self) -> None:
        """process.cpu.time has a user and a system series, in seconds."""
        found = values(ProcessSource())
        assert {("process.cpu.time", "user"), ("process.cpu.time", "system")} <= set(found)


class TestProcessCpuRate:
    def test_rate_is_cpu_time_over_wall_time_and_cpus(self) -> None:
        """1 s of user time in 2 s of wall time on 4 CPUs is 0.125."""
        rate = CpuRate({"user": 10.0, "system": 1.0}, at=100.0, cpus=4)
        assert {"user": 0.125, "system": 0.0} == rate.update({"user": 11.0, "system": 1.0}, 102.0)

    def test_same_instant_gives_no_rate(self) -> None:
        """Two readings at one instant have no rate: nothing, not a bogus 0."""
        rate = CpuRate({"user": 1.0}, at=5.0, cpus=2)
        assert {} == rate.update({"user": 1.0}, 5.0)

    def test_busy_loop_shows_up(self) -> None:
        """Burning CPU between collections gives a positive user utilization."""
        source = ProcessSource()
        start = process.process_cpu_seconds(source.process)["user"]
        while process.process_cpu_seconds(source.process)["user"] - start < 0.05:
            pass
        assert 0 < values(source)[("process.cpu.utilization", "user")] <= 1


class TestProcessFork:
    def test_new_pid_rebinds(self) -> None:
        """A source made in a parent process reports the child after a fork."""
        source = ProcessSource(FakeClock())
        source.pid = -1  # as if made before fork(): its pid is not ours
        source.collect()
        assert (os.getpid(), os.getpid()) == (source.pid, source.process.pid)


class TestProcessFaults:
    def test_denied_call_skips_its_metric(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """psutil denying the fd count drops only that metric, and describe() says so."""
        source = ProcessSource()

        def denied() -> int:
            raise psutil.AccessDenied(source.pid)

        monkeypatch.setattr(source.process, "num_fds", denied, raising=False)
        monkeypatch.setattr(source.process, "num_threads", denied)
        found = {metric for metric, _ in values(source)}
        skipped = {s.component for s in source.describe() if s.status == "skipped"}
        assert (
            "process.thread.count" in found,
            "process.memory.usage" in found,
            "process process.thread.count" in skipped,
        ) == (False, True, True)
