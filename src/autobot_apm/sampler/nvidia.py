"""NVIDIA GPUs through NVML (the ``nvidia-ml-py`` package, imported as ``pynvml``).

One row per NVML call. Measured on an H100 (docs/hardware.md), the calls below take a
few microseconds each, except the total energy counter (milliseconds), which is marked
slow and read at most every few minutes. PCIe throughput (about 20 ms per call, and it
sleeps inside the driver to measure) is left out on purpose.

A module object can be passed as ``nvml`` in place of ``pynvml``: the tests use a fake
one, so every path here runs in CI without a GPU.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Sequence
from typing import Any

from .._tracking.attributes import safe_str
from ._gpu import (
    FAN_SPEED_RATIO,
    GPU_ENERGY,
    GPU_FREQUENCY,
    GPU_MEMORY_LIMIT,
    GPU_MEMORY_USAGE,
    GPU_MEMORY_UTILIZATION,
    GPU_POWER,
    GPU_TEMPERATURE,
    GPU_UTILIZATION,
    PROCESS_GPU_MEMORY,
    GpuIdentity,
    GpuQuery,
    GpuSource,
    gpu_source,
)
from ._types import Absent, Clock

__all__ = ["open_nvidia"]

COMPONENT = "nvidia"
MHZ = 1e6


def _memory(nv: Any, handle: Any) -> Sequence[float | None]:
    info = nv.nvmlDeviceGetMemoryInfo(handle)
    share = info.used / info.total if info.total else None
    return (info.used, info.total, share)


def _process_memory(nv: Any, handle: Any) -> Sequence[float | None]:
    """This process's memory on the GPU; nothing when it has no context there.

    NVML lists processes by host pid: inside a container with its own pid namespace the
    process is not found, and no value is reported rather than a false zero.
    """
    pid = os.getpid()
    for process in nv.nvmlDeviceGetComputeRunningProcesses(handle):
        if process.pid == pid:
            return (process.usedGpuMemory,)  # None where the driver withholds it
    return (None,)


QUERIES: tuple[GpuQuery, ...] = (
    GpuQuery("utilization", (GPU_UTILIZATION,),
             lambda nv, h: (nv.nvmlDeviceGetUtilizationRates(h).gpu / 100,)),
    GpuQuery("memory", (GPU_MEMORY_USAGE, GPU_MEMORY_LIMIT, GPU_MEMORY_UTILIZATION), _memory),
    GpuQuery("temperature", (GPU_TEMPERATURE,),
             lambda nv, h: (nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),),
             attributes="component"),
    GpuQuery("power", (GPU_POWER,),
             lambda nv, h: (nv.nvmlDeviceGetPowerUsage(h) / 1000,), attributes="component"),
    GpuQuery("energy", (GPU_ENERGY,),
             lambda nv, h: (nv.nvmlDeviceGetTotalEnergyConsumption(h) / 1000,),
             attributes="component", slow=True),
    GpuQuery("SM clock", (GPU_FREQUENCY,),
             lambda nv, h: (nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM) * MHZ,)),
    GpuQuery("fan speed", (FAN_SPEED_RATIO,),
             lambda nv, h: (nv.nvmlDeviceGetFanSpeed(h) / 100,), attributes="fan"),
    GpuQuery("process memory", (PROCESS_GPU_MEMORY,), _process_memory),
)  # fmt: skip

# Why NVML would not start, in words for doctor; other codes show NVML's own message.
START_ERRORS = {
    "NVML_ERROR_LIBRARY_NOT_FOUND": "NVML library not found (no NVIDIA driver installed)",
    "NVML_ERROR_DRIVER_NOT_LOADED": "NVIDIA driver is installed but not loaded",
    "NVML_ERROR_NO_PERMISSION": "no permission to open the NVIDIA devices",
}


class NvidiaBackend:
    """NVML, initialised; lists GPUs and says what an NVML error means."""

    component = COMPONENT
    vendor = "NVIDIA"
    queries = QUERIES

    def __init__(self, nvml: Any) -> None:
        self.lib = nvml
        self.errors: tuple[type[Exception], ...] = (nvml.NVMLError,)
        nvml.nvmlInit()
        try:
            self.driver = safe_str(nvml.nvmlSystemGetDriverVersion())  # bytes in older nvidia-ml-py
        except nvml.NVMLError:
            self.shutdown()
            raise

    def devices(self) -> list[GpuIdentity]:
        identities = []
        for index in range(self.lib.nvmlDeviceGetCount()):
            try:
                handle = self.lib.nvmlDeviceGetHandleByIndex(index)
                uuid = safe_str(self.lib.nvmlDeviceGetUUID(handle))
                name = safe_str(self.lib.nvmlDeviceGetName(handle))
            except self.lib.NVMLError:
                continue  # one broken GPU must not hide the others
            identities.append(GpuIdentity(handle, uuid, name, self.driver))
        return identities

    def is_unsupported(self, exc: Exception) -> bool:
        return bool(getattr(exc, "value", None) == self.lib.NVML_ERROR_NOT_SUPPORTED)

    def is_lost(self, exc: Exception) -> bool:
        return bool(getattr(exc, "value", None) == self.lib.NVML_ERROR_GPU_IS_LOST)

    def shutdown(self) -> None:
        with contextlib.suppress(self.lib.NVMLError):
            self.lib.nvmlShutdown()


def start_error(nvml: Any, exc: Exception) -> str:
    code = getattr(exc, "value", None)
    for constant, words in START_ERRORS.items():
        if code is not None and code == getattr(nvml, constant, object()):
            return words
    return f"NVML did not start: {type(exc).__name__}: {exc}"


def open_nvidia(nvml: Any | None = None, clock: Clock = time.monotonic) -> GpuSource | Absent:
    """Start NVML and list the GPUs; :class:`Absent` with the reason when there are none."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return Absent(COMPONENT, "nvidia-ml-py is not installed")
    try:
        backend = NvidiaBackend(nvml)
    except (nvml.NVMLError, OSError) as exc:
        return Absent(COMPONENT, start_error(nvml, exc))
    return gpu_source(backend, clock, "NVML", f"NVML (driver {backend.driver}) sees no GPU")
