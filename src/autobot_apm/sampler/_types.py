"""The small vocabulary shared by every part of the sampler.

A *source* (host, process, NVIDIA, NPU, AMD) declares the metrics it can emit as
:class:`MetricSpec` rows and, when asked, returns one :class:`Reading` per value it could
read. The sampler turns readings into OpenTelemetry observations; sources never see the
SDK. A component that cannot be sampled at all is an :class:`Absent` with the reason,
which ``autobot-apm doctor`` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

Attributes = Mapping[str, str]
Clock = Callable[[], float]
InstrumentKind = Literal["gauge", "updown", "counter"]

OK = "ok"
ABSENT = "absent"
GONE = "gone"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric a source may emit: its name, instrument kind, unit and description."""

    name: str
    kind: InstrumentKind
    unit: str
    description: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value, in the metric's unit, with its attributes."""

    metric: str
    value: float
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One line of what the sampler sees: component, status (ok/absent/gone), detail."""

    component: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class Absent:
    """A component that cannot be sampled here, and why (no driver, no device, ...)."""

    component: str
    reason: str

    def describe(self) -> list[SourceStatus]:
        return [SourceStatus(self.component, ABSENT, self.reason)]


class Source(Protocol):
    """Something the sampler can collect: hardware probed once, then read on demand.

    ``collect`` must not raise for the errors its hardware is known to produce (a driver
    error, an unreadable file): it skips the value and carries on.
    """

    component: str
    metrics: tuple[MetricSpec, ...]

    def collect(self) -> Iterable[Reading]: ...

    def describe(self) -> list[SourceStatus]: ...

    def close(self) -> None: ...


def gauge(name: str, unit: str, description: str) -> MetricSpec:
    return MetricSpec(name, "gauge", unit, description)


def updown(name: str, unit: str, description: str) -> MetricSpec:
    return MetricSpec(name, "updown", unit, description)


def counter(name: str, unit: str, description: str) -> MetricSpec:
    return MetricSpec(name, "counter", unit, description)
