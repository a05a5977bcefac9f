"""The sampler: sources read on demand by the SDK's metric reader, through a snapshot.

No thread of our own: every metric is an observable instrument, and the reader that
exports metrics (every ``metric_export_interval``) calls their callbacks. The first
callback of a reader's collection reads every source once into a snapshot; the other
callbacks of that collection take their values from it. A later collection reads again,
unless it comes within ``interval`` seconds of the snapshot (a second reader, say), in
which case it reuses the snapshot. So sources are read at most once per collection and
at most once per ``interval``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.metrics import Observation

from .._tracking.errors import contained
from ._types import Absent, Clock, MetricSpec, Reading, Source, SourceStatus

DEFAULT_INTERVAL = 1.0


class Sampler:
    """Host, process, GPU and NPU gauges; made by :func:`autobot_apm.start_sampler`.

    ``sampler.describe()`` lists what it sees (the same lines ``autobot-apm doctor``
    prints); ``sampler.stop()`` ends it.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        absent: Sequence[Absent] = (),
        interval: float = DEFAULT_INTERVAL,
        clock: Clock = time.monotonic,
    ) -> None:
        self.sources = tuple(sources)
        self.absent = tuple(absent)
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: dict[str, list[Observation]] = {}
        self._taken_at: float | None = None
        self._consumed: set[str] = set()
        self._stopped = False

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        """Every metric the sources may emit, each name once."""
        specs = {spec.name: spec for source in self.sources for spec in source.metrics}
        return tuple(specs.values())

    @property
    def stopped(self) -> bool:
        return self._stopped

    def collect(self) -> list[Reading]:
        """Read every source once, now; a source that fails is skipped."""
        readings: list[Reading] = []
        for source in self.sources:
            readings.extend(_collect(source))
        return readings

    def observe(self, metric: str) -> list[Observation]:
        """The observations of one metric, for its instrument's callback."""
        with self._lock:
            if self._stopped:
                return []
            if self._needs_reading(metric):
                self._read_snapshot()
            self._consumed.add(metric)
            return self._snapshot.get(metric, [])

    def _needs_reading(self, metric: str) -> bool:
        # A metric asked for twice from one snapshot means a new reader collection began.
        if self._taken_at is None:
            return True
        return metric in self._consumed and self._clock() - self._taken_at >= self.interval

    def _read_snapshot(self) -> None:
        snapshot: dict[str, list[Observation]] = {}
        for reading in self.collect():
            observation = Observation(reading.value, reading.attributes)
            snapshot.setdefault(reading.metric, []).append(observation)
        self._snapshot, self._taken_at, self._consumed = snapshot, self._clock(), set()

    def describe(self) -> list[SourceStatus]:
        """What the sampler sees: one (component, status, detail) line per part."""
        statuses: list[SourceStatus] = []
        for source in self.sources:
            statuses.extend(_describe(source))
        for absent in self.absent:
            statuses.extend(absent.describe())
        return statuses

    def stop(self) -> None:
        """Stop reporting and release the GPU libraries; calling it again does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._snapshot = {}
        for source in self.sources:
            _close(source)

    def __repr__(self) -> str:
        names = ", ".join(source.component for source in self.sources)
        return f"<Sampler [{names}] interval={self.interval}s{' stopped' if self._stopped else ''}>"


# Sources handle the errors their hardware is known to produce; these guards catch our
# own bugs, so a fault costs one source's values and never reaches the reader thread.
_NO_READINGS: tuple[Reading, ...] = ()
_NO_STATUSES: tuple[SourceStatus, ...] = ()


@contained(_NO_READINGS)
def _collect(source: Source) -> tuple[Reading, ...]:
    return tuple(source.collect())


@contained(_NO_STATUSES)
def _describe(source: Source) -> tuple[SourceStatus, ...]:
    return tuple(source.describe())


@contained(default=None)
def _close(source: Source) -> None:
    source.close()
