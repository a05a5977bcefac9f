"""Per-call wall times that can say where a slow call's time went.

Each call is timed with ``perf_counter_ns``; around it the thread's CPU time
(``thread_time_ns``) and its context switches (``getrusage(RUSAGE_THREAD)``) are read.
Wall time less CPU time is time off the CPU, and the switches say why: an involuntary
one is the kernel giving the core to another thread or process (on a shared machine,
mostly other processes), a voluntary one is the thread blocking, which in a process with
one calling thread and an export thread means waiting for the interpreter lock. Neither
reading releases that lock: a probe that did (``os.read`` of ``/proc``) would hand the
export thread the lock between calls and move the waits out of the timed window.

Background work is recorded as intervals (garbage collections by generation and thread,
span exports, metric collections) so a slow call can be matched with what ran meanwhile.
No garbage-collected object outlives a call of the probe: samples go to arrays, so
the probe itself does not trigger collections.
"""

from __future__ import annotations

import gc
import statistics
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns, thread_time_ns
from typing import Any

try:
    from resource import RUSAGE_THREAD, getrusage
except ImportError:  # not Linux: no per-thread switch counts
    RUSAGE_THREAD = None


def switches() -> Callable[[], tuple[int, int]]:
    """A reader of this thread's (voluntary, involuntary) context switches so far."""
    if RUSAGE_THREAD is None:
        return lambda: (0, 0)

    def read() -> tuple[int, int]:
        usage = getrusage(RUSAGE_THREAD)
        return usage.ru_nvcsw, usage.ru_nivcsw

    return read


SWITCHES_KNOWN = RUSAGE_THREAD is not None


@dataclass
class Samples:
    """One variant's calls: start, wall and CPU time (ns), context switches during each."""

    start: array[int] = field(default_factory=lambda: array("q"))
    wall: array[int] = field(default_factory=lambda: array("q"))
    cpu: array[int] = field(default_factory=lambda: array("q"))
    voluntary: array[int] = field(default_factory=lambda: array("q"))
    involuntary: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.wall)

    def preempted_only(self, i: int) -> bool:
        """Off the CPU only because the kernel gave the core away (it never blocked)."""
        return self.involuntary[i] > 0 and self.voluntary[i] == 0

    def in_process(self) -> list[int]:
        """Wall time, less the time off the CPU of calls the kernel preempted and that
        never blocked: what the call cost inside this process."""
        return [self.cpu[i] if self.preempted_only(i) else self.wall[i] for i in range(len(self))]

    def off_cpu(self, i: int) -> int:
        return max(0, self.wall[i] - self.cpu[i])


def time_calls(call: Callable[[], object], count: int, into: Samples) -> None:
    """Make ``count`` calls, each timed on its own, appending to ``into``."""
    read = switches()
    wall, cpu = perf_counter_ns, thread_time_ns
    starts, walls, cpus = into.start, into.wall, into.cpu
    voluntary, involuntary = into.voluntary, into.involuntary
    for _ in range(count):
        v0, i0 = read()
        c0 = cpu()
        w0 = wall()
        call()
        w1 = wall()
        c1 = cpu()
        v1, i1 = read()
        starts.append(w0)
        walls.append(w1 - w0)
        cpus.append(c1 - c0)
        voluntary.append(v1 - v0)
        involuntary.append(i1 - i0)


def percentile(values: Sequence[int], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank), in µs."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def median_us(values: Sequence[int]) -> float:
    return statistics.median(values) / 1000


@dataclass
class Interval:
    start: int
    end: int
    label: str


class Background:
    """Intervals of work other than the timed calls: collections, exports."""

    def __init__(self) -> None:
        self.intervals: list[Interval] = []
        self._main = threading.get_ident()
        self._gc_started = 0
        self.active = False  # only work done while calls are timed is kept

    def record(self, start: int, end: int, label: str) -> None:
        if self.active:
            self.intervals.append(Interval(start, end, label))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = perf_counter_ns()
            return
        where = "calling thread" if threading.get_ident() == self._main else "export thread"
        self.record(self._gc_started, perf_counter_ns(), f"gen-{info['generation']} GC, {where}")

    def __enter__(self) -> Background:
        gc.callbacks.append(self.on_gc)
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False
        gc.callbacks.remove(self.on_gc)

    def overlapping(self, start: int, end: int) -> list[str]:
        return [i.label for i in self.intervals if i.start < end and i.end > start]
