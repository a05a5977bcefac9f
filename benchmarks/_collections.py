"""Garbage-collection pauses of a server process, reported on a signal.

The benchmark's server (``_app.py``) calls :func:`install` when ``BENCH_GC_FILE`` names a
file: every collection's pause is then recorded by generation (``gc.callbacks``), and on
``SIGUSR1`` the pauses recorded since the previous signal are written to that file as one
JSON object, numbered, and forgotten. The load generator signals once after the warm-up
(discarding what it gets) and once after the measured load; :func:`read` waits for the
numbered answer. Nothing runs per request beyond the collector's own callbacks.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

GENERATIONS = (0, 1, 2)


class CollectionLog:
    """Pauses (seconds) per generation since the last report, and how many of the
    collections ran on another thread than the server's (the export threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reports = 0
        self.pauses: dict[int, list[float]] = {g: [] for g in GENERATIONS}
        self.elsewhere: dict[int, int] = dict.fromkeys(GENERATIONS, 0)
        self._started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.pauses[generation].append(time.perf_counter() - self._started)
        if threading.current_thread() is not threading.main_thread():
            self.elsewhere[generation] += 1

    def report(self, signum: int, frame: FrameType | None) -> None:
        self.reports += 1
        report = {"report": self.reports, "pauses": self.pauses, "elsewhere": self.elsewhere}
        self.pauses = {g: [] for g in GENERATIONS}
        self.elsewhere = dict.fromkeys(GENERATIONS, 0)
        written = self.path.with_suffix(".tmp")
        written.write_text(json.dumps(report))
        os.replace(written, self.path)  # the reader never sees half a file


def install() -> None:
    """Record collections if ``BENCH_GC_FILE`` is set; ``BENCH_GC_FREEZE=1`` also moves
    everything alive now (modules, the app) out of the collector's reach."""
    target = os.environ.get("BENCH_GC_FILE")
    if not target:
        return
    log = CollectionLog(Path(target))
    gc.callbacks.append(log.on_gc)
    signal.signal(signal.SIGUSR1, log.report)
    if os.environ.get("BENCH_GC_FREEZE") == "1":
        gc.collect()
        gc.freeze()


@dataclass
class Collections:
    """One server's collections over a stretch of load."""

    pauses: dict[int, list[float]] = field(default_factory=dict)  # seconds, by generation
    elsewhere: dict[int, int] = field(default_factory=dict)  # not on the server's thread


def request_report(pid: int, path: Path, number: int, timeout: float = 10.0) -> Collections:
    """Signal the server ``pid`` and wait for its report number ``number``."""
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            report = {}
        if report.get("report") == number:
            return Collections(
                {int(g): pauses for g, pauses in report["pauses"].items()},
                {int(g): count for g, count in report["elsewhere"].items()},
            )
        time.sleep(0.02)
    raise TimeoutError(f"server {pid} did not report its collections within {timeout:.0f} s")
