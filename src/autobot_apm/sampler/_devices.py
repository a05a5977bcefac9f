"""What the GPU and NPU sources share: the device registry, failure counting, re-probing.

Both find their devices once, then read every device that is not gone at each
collection. A device whose every read fails ``FAILURE_LIMIT`` collections in a row (or
that reports itself lost) is marked gone and skipped. While any device is gone, the
hardware is listed again every ``REPROBE_SECONDS``, so a device that comes back
(hot-plug, driver reset) is read again under the same ``hw.id``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._types import Clock, Reading, SourceStatus

FAILURE_LIMIT = 3
REPROBE_SECONDS = 60.0


@dataclass(kw_only=True)
class DeviceHealth:
    """How many collections in a row every read of a device failed, and whether it is gone."""

    failures: int = 0
    gone: bool = False

    def account(self, all_failed: bool, *, lost: bool = False) -> None:
        """Count one collection: a lost device is gone at once, a working one starts over."""
        if lost:
            self.failures = FAILURE_LIMIT
        elif all_failed:
            self.failures += 1
        else:
            self.failures = 0
        self.gone = self.failures >= FAILURE_LIMIT


DeviceT = TypeVar("DeviceT", bound=DeviceHealth)


class DeviceSource(ABC, Generic[DeviceT]):
    """A source of several devices, keyed by a stable id; subclasses read one device."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.devices: dict[str, DeviceT] = {}
        self._probed_at = clock()

    def collect(self) -> list[Reading]:
        now = self._clock()
        if self._reprobe_due(now):
            self._reprobe(now)
        readings: list[Reading] = []
        for device in self.devices.values():
            if not device.gone:
                readings.extend(self._collect_device(device, now))
        return readings

    def _reprobe_due(self, now: float) -> bool:
        """True, at most every REPROBE_SECONDS, while some device is gone."""
        if not any(device.gone for device in self.devices.values()):
            return False
        if now - self._probed_at < REPROBE_SECONDS:
            return False
        self._probed_at = now
        return True

    def describe(self) -> list[SourceStatus]:
        return [self._describe_device(device) for device in self.devices.values()]

    @abstractmethod
    def _reprobe(self, now: float) -> None:
        """List the hardware again, bringing back the gone devices found; never raises."""

    @abstractmethod
    def _collect_device(self, device: DeviceT, now: float) -> list[Reading]: ...

    @abstractmethod
    def _describe_device(self, device: DeviceT) -> SourceStatus: ...
