"""What every GPU source shares: metric names, device bookkeeping, failure and recovery.

A vendor module (``nvidia.py``, ``amd.py``) supplies a :class:`GpuBackend`: how to list
devices and a table of :class:`GpuQuery` rows, one per library call. This module runs the
table for each device with the rules the application relies on:

* a call the device does not support is skipped quietly, and never tried again;
* any other library error skips that value; a device whose every call fails
  ``FAILURE_LIMIT`` collections in a row (or that reports itself lost) is marked gone,
  and is looked for again as ``_devices.py`` describes;
* slow calls (``slow=True``) are made at most every ``SLOW_QUERY_SECONDS``; in between
  the last value is reported again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ._devices import DeviceHealth, DeviceSource
from ._types import (
    GONE,
    OK,
    Absent,
    Attributes,
    Clock,
    MetricSpec,
    Reading,
    SourceStatus,
    counter,
    gauge,
    updown,
)

SLOW_QUERY_SECONDS = 300.0

GPU_UTILIZATION = gauge("hw.gpu.utilization", "1", "Share of time the GPU was busy (0..1).")
GPU_MEMORY_USAGE = updown("hw.gpu.memory.usage", "By", "GPU memory in use.")
GPU_MEMORY_LIMIT = updown("hw.gpu.memory.limit", "By", "GPU memory in total.")
GPU_MEMORY_UTILIZATION = gauge("hw.gpu.memory.utilization", "1", "Share of GPU memory in use.")
GPU_TEMPERATURE = gauge("hw.temperature", "Cel", "GPU temperature.")
GPU_POWER = gauge("hw.power", "W", "GPU power draw.")
GPU_ENERGY = counter("hw.energy", "J", "Energy the GPU used since its driver was loaded.")
GPU_FREQUENCY = gauge(
    "hw.gpu.frequency", "Hz", "Clock of the GPU's streaming multiprocessors (non-standard)."
)
FAN_SPEED_RATIO = gauge("hw.fan.speed_ratio", "1", "GPU fan speed as a share of its maximum.")
PROCESS_GPU_MEMORY = updown(
    "process.gpu.memory.usage", "By", "GPU memory used by this process (non-standard)."
)

AttributeSet = Literal["device", "component", "fan"]
Values = list[tuple[MetricSpec, float]]


@dataclass(frozen=True, slots=True)
class GpuQuery:
    """One library call: ``read(library, handle)`` gives one value per metric, or None.

    ``label`` is what doctor calls the call when the device does not support it;
    ``attributes`` picks the attribute set (the GPU, the GPU as a ``hw.type`` component,
    or its fan).
    """

    label: str
    metrics: tuple[MetricSpec, ...]
    read: Callable[[Any, Any], Sequence[float | None]]
    attributes: AttributeSet = "device"
    slow: bool = False


@dataclass(frozen=True, slots=True)
class GpuIdentity:
    handle: Any
    uuid: str
    name: str
    driver: str


class GpuBackend(Protocol):
    """A vendor library, started; ``errors`` are the exceptions its calls raise."""

    component: str
    vendor: str
    lib: Any
    errors: tuple[type[Exception], ...]
    queries: tuple[GpuQuery, ...]

    def devices(self) -> list[GpuIdentity]: ...

    def is_unsupported(self, exc: Exception) -> bool: ...

    def is_lost(self, exc: Exception) -> bool: ...

    def shutdown(self) -> None:
        """Release the library; never raises (a broken library is simply left)."""


def identity_attributes(identity: GpuIdentity, vendor: str) -> dict[AttributeSet, Attributes]:
    device = {
        "hw.id": identity.uuid,
        "hw.name": identity.name,
        "hw.vendor": vendor,
        "hw.driver_version": identity.driver,
    }
    fan = {"hw.id": f"{identity.uuid}/fan", "hw.type": "fan", "hw.parent": identity.uuid}
    return {"device": device, "component": {**device, "hw.type": "gpu"}, "fan": fan}


@dataclass
class GpuDevice(DeviceHealth):
    """One GPU as the sampler tracks it across collections."""

    index: int
    identity: GpuIdentity
    attributes: dict[AttributeSet, Attributes]
    unsupported: list[str] = field(default_factory=list)
    lost: bool = False
    last_error: str = ""
    last: dict[str, float] = field(default_factory=dict)
    slow: dict[str, tuple[float, Values]] = field(default_factory=dict)

    def revive(self, identity: GpuIdentity, vendor: str) -> None:
        self.identity, self.attributes = identity, identity_attributes(identity, vendor)
        self.failures, self.lost, self.gone, self.slow = 0, False, False, {}


class GpuSource(DeviceSource[GpuDevice]):
    """Gauges of every GPU one vendor library can see."""

    def __init__(
        self,
        backend: GpuBackend,
        identities: list[GpuIdentity],
        clock: Clock = time.monotonic,
        slow_seconds: float = SLOW_QUERY_SECONDS,
    ) -> None:
        super().__init__(clock)
        self.backend, self.component = backend, backend.component
        self.metrics = metrics_of(backend.queries)
        self._slow_seconds = slow_seconds
        self._add(identities)

    def _add(self, identities: list[GpuIdentity]) -> None:
        for identity in identities:
            device = self.devices.get(identity.uuid)
            if device is None:
                attributes = identity_attributes(identity, self.backend.vendor)
                self.devices[identity.uuid] = GpuDevice(len(self.devices), identity, attributes)
            elif device.gone:
                device.revive(identity, self.backend.vendor)

    def _reprobe(self, now: float) -> None:
        try:
            self._add(self.backend.devices())
        except self.backend.errors:
            return  # the library still cannot list devices; try again later

    def _collect_device(self, device: GpuDevice, now: float) -> list[Reading]:
        readings: list[Reading] = []
        attempted = failed = 0
        for query in self.backend.queries:
            if query.label in device.unsupported:
                continue
            cached = device.slow.get(query.label)
            if cached is not None and now - cached[0] < self._slow_seconds:
                values = cached[1]
            else:
                attempted += 1
                result = self._run(device, query)
                failed += result is None
                values = result or []
                if query.slow:
                    device.slow[query.label] = (now, values)
            attributes = device.attributes[query.attributes]
            readings.extend(Reading(spec.name, value, attributes) for spec, value in values)
            device.last.update((spec.name, value) for spec, value in values)
        device.account(attempted > 0 and failed == attempted, lost=device.lost)
        return readings

    def _run(self, device: GpuDevice, query: GpuQuery) -> Values | None:
        """The query's values; [] when unsupported, None when the call failed."""
        try:
            values = query.read(self.backend.lib, device.identity.handle)
        except self.backend.errors as exc:
            if self.backend.is_unsupported(exc):
                device.unsupported.append(query.label)
                return []
            device.last_error = f"{query.label}: {type(exc).__name__}: {exc}"
            device.lost = device.lost or self.backend.is_lost(exc)
            return None
        return [(s, float(v)) for s, v in zip(query.metrics, values, strict=True) if v is not None]

    def _describe_device(self, device: GpuDevice) -> SourceStatus:
        identity = device.identity
        parts = [identity.name, identity.uuid, f"driver {identity.driver}"]
        parts += summarize(device.last)
        if device.unsupported:
            parts.append("not supported: " + ", ".join(device.unsupported))
        if device.gone:
            parts.append(f"gone after repeated errors ({device.last_error})")
        component = f"{self.component} gpu {device.index}"
        return SourceStatus(component, GONE if device.gone else OK, "; ".join(parts))

    def close(self) -> None:
        self.backend.shutdown()


def gpu_source(
    backend: GpuBackend, clock: Clock, library: str, none_seen: str
) -> GpuSource | Absent:
    """A source of the GPUs a started ``backend`` lists; when it lists none, the library
    is released and :class:`Absent` says why (``none_seen``, or the listing error)."""
    try:
        identities = backend.devices()
    except backend.errors as exc:
        backend.shutdown()
        return Absent(backend.component, f"{library} could not list GPUs: {exc}")
    if not identities:
        backend.shutdown()
        return Absent(backend.component, none_seen)
    return GpuSource(backend, identities, clock)


def metrics_of(queries: Iterable[GpuQuery]) -> tuple[MetricSpec, ...]:
    specs = {spec.name: spec for query in queries for spec in query.metrics}
    return tuple(specs.values())


def summarize(last: dict[str, float]) -> list[str]:
    """A few last values in words, for doctor."""
    words = []
    if GPU_UTILIZATION.name in last:
        words.append(f"{last[GPU_UTILIZATION.name]:.0%} busy")
    if GPU_MEMORY_LIMIT.name in last:
        used = last.get(GPU_MEMORY_USAGE.name, 0.0) / 2**30
        words.append(f"{used:.1f} of {last[GPU_MEMORY_LIMIT.name] / 2**30:.1f} GiB used")
    if GPU_TEMPERATURE.name in last:
        words.append(f"{last[GPU_TEMPERATURE.name]:.0f} Cel")
    if GPU_POWER.name in last:
        words.append(f"{last[GPU_POWER.name]:.0f} W")
    return words
