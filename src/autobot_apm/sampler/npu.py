"""Intel NPUs on Linux, read from the ``intel_vpu`` driver's sysfs files.

Each NPU is ``/sys/class/accel/accelN/device/``; the driver writes, depending on the
kernel, some of ``npu_busy_time_us`` (Linux 6.10+), ``npu_memory_utilization`` (bytes in
use, despite the name), ``npu_current_frequency_mhz`` and ``npu_max_frequency_mhz``. Only
the files present when the NPU is found are read.

OpenTelemetry has no NPU metrics yet: the names here are ours, shaped like ``hw.gpu.*``
(``hw.npu.utilization`` and so on), and may change when a convention appears. Units are
the conventional ones: a 0..1 share, bytes and hertz.

A file that cannot be read or parsed skips its value. An NPU whose files all fail
``FAILURE_LIMIT`` collections in a row is marked gone, and the sysfs root is scanned
again until it comes back (``_devices.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    gauge,
    updown,
)

__all__ = ["DEFAULT_SYSFS_ROOT", "open_npu"]

COMPONENT = "npu"
DEFAULT_SYSFS_ROOT = "/sys/class/accel"
MHZ = 1e6

NPU_UTILIZATION = gauge(
    "hw.npu.utilization", "1", "Share of wall time the NPU had work (non-standard)."
)
NPU_MEMORY_USAGE = updown("hw.npu.memory.usage", "By", "Memory used by the NPU (non-standard).")
NPU_FREQUENCY = gauge("hw.npu.frequency", "Hz", "Current NPU clock; 0 while suspended.")
NPU_FREQUENCY_LIMIT = gauge("hw.npu.frequency.limit", "Hz", "Highest NPU clock.")


@dataclass
class NpuDevice(DeviceHealth):
    """One NPU as the sampler tracks it: where its files are and what it last read."""

    name: str
    path: Path
    files: tuple[str, ...]
    attributes: Attributes
    busy: tuple[float, float] | None = None  # (busy µs, clock s) at the previous reading
    errors: dict[str, str] = field(default_factory=dict)

    def utilization(self, busy_us: float, now: float) -> float | None:
        """Busy time over wall time since the previous reading; None on the first."""
        previous, self.busy = self.busy, (busy_us, now)
        if previous is None:
            return None
        busy, wall = busy_us - previous[0], (now - previous[1]) * 1e6
        if busy < 0 or wall <= 0:
            return None  # counter reset (driver reload) or no time elapsed
        return min(1.0, busy / wall)


Convert = Callable[[NpuDevice, float, float], float | None]

ROWS: tuple[tuple[MetricSpec, str, Convert], ...] = (
    (NPU_UTILIZATION, "npu_busy_time_us", lambda dev, raw, now: dev.utilization(raw, now)),
    (NPU_MEMORY_USAGE, "npu_memory_utilization", lambda dev, raw, now: raw),
    (NPU_FREQUENCY, "npu_current_frequency_mhz", lambda dev, raw, now: raw * MHZ),
    (NPU_FREQUENCY_LIMIT, "npu_max_frequency_mhz", lambda dev, raw, now: raw * MHZ),
)
FILES = tuple(name for _, name, _ in ROWS)


def read_number(path: Path) -> float:
    """A sysfs file holding one whole number; OSError or ValueError otherwise."""
    return float(int(path.read_text().strip()))


def pci_slot(device: Path) -> str | None:
    """The PCI address (0000:00:0b.0) from the device's uevent, a stable ``hw.id``."""
    try:
        for line in (device / "uevent").read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "PCI_SLOT_NAME" and value:
                return value
    except OSError:
        return None
    return None


def find_npus(root: Path) -> list[NpuDevice]:
    devices = []
    for accel in sorted(root.glob("accel*")):
        path = accel / "device"
        files = tuple(name for name in FILES if (path / name).is_file())
        if files:
            slot = pci_slot(path) or accel.name
            attributes = {"hw.id": slot, "hw.name": accel.name, "hw.vendor": "Intel"}
            devices.append(NpuDevice(accel.name, path, files, attributes))
    return devices


class NpuSource(DeviceSource[NpuDevice]):
    """Gauges of every Intel NPU under the sysfs root."""

    component = COMPONENT
    metrics = tuple(spec for spec, _, _ in ROWS)

    def __init__(self, root: Path, devices: list[NpuDevice], clock: Clock = time.monotonic) -> None:
        super().__init__(clock)
        self.root = root
        self.devices = {device.name: device for device in devices}
        for device in devices:
            self._prime(device, self._probed_at)

    def _prime(self, device: NpuDevice, now: float) -> None:
        """Read the busy counter now, so the first collection has a utilization."""
        if "npu_busy_time_us" in device.files:
            try:
                device.utilization(read_number(device.path / "npu_busy_time_us"), now)
            except (OSError, ValueError):
                device.busy = None

    def _collect_device(self, device: NpuDevice, now: float) -> list[Reading]:
        readings, failed = [], 0
        for spec, name, convert in ROWS:
            if name not in device.files:
                continue
            try:
                value = convert(device, read_number(device.path / name), now)
            except (OSError, ValueError) as exc:
                device.errors[name] = f"{type(exc).__name__}: {exc}"
                failed += 1
                continue
            device.errors.pop(name, None)
            if value is not None:
                readings.append(Reading(spec.name, value, device.attributes))
        device.account(failed == len(device.files))
        return readings

    def _reprobe(self, now: float) -> None:
        for found in find_npus(self.root):
            known = self.devices.get(found.name)
            if known is None or known.gone:
                self.devices[found.name] = found
                self._prime(found, now)

    def _describe_device(self, device: NpuDevice) -> SourceStatus:
        detail = f"Intel NPU {device.attributes['hw.id']}; files: {', '.join(device.files)}"
        if device.errors:
            detail += "; unreadable: " + "; ".join(f"{k} ({v})" for k, v in device.errors.items())
        status = GONE if device.gone else OK
        return SourceStatus(f"{COMPONENT} {device.name}", status, detail)

    def close(self) -> None:
        return None


def open_npu(
    root: str | Path = DEFAULT_SYSFS_ROOT, clock: Clock = time.monotonic
) -> NpuSource | Absent:
    """Find the NPUs under ``root``; :class:`Absent` with the reason when there are none."""
    path = Path(root)
    if not path.is_dir():
        return Absent(COMPONENT, f"{path} does not exist (no Linux accel devices)")
    try:
        devices = find_npus(path)
    except OSError as exc:
        return Absent(COMPONENT, f"{path} cannot be read: {exc}")
    if devices:
        return NpuSource(path, devices, clock)
    accels = sorted(p.name for p in path.glob("accel*"))
    if not accels:
        return Absent(COMPONENT, f"no accel devices under {path}")
    return Absent(
        COMPONENT,
        f"{', '.join(accels)} under {path} have no npu_* files "
        "(not an intel_vpu NPU, or a kernel older than 6.10)",
    )
