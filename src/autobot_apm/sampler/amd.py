"""AMD GPUs through ``amdsmi`` (optional: ``pip install 'autobot-apm[amd]'`` and ROCm).

The same metric names and attributes as NVIDIA GPUs, read from ROCm's SMI library.
``import amdsmi`` raises ``KeyError`` (not ImportError) when ROCm's ``libamd_smi.so``
cannot be found, so the import is guarded broadly and reported as absent hardware. AMD
reports no per-process GPU memory through a stable call, so that metric is NVIDIA only.
Values ``amdsmi`` cannot read come back as the string ``"N/A"`` and are skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import time
from collections.abc import Sequence
from typing import Any

from ._gpu import (
    GPU_ENERGY,
    GPU_FREQUENCY,
    GPU_MEMORY_LIMIT,
    GPU_MEMORY_USAGE,
    GPU_MEMORY_UTILIZATION,
    GPU_POWER,
    GPU_TEMPERATURE,
    GPU_UTILIZATION,
    GpuIdentity,
    GpuQuery,
    GpuSource,
    gpu_source,
)
from ._types import Absent, Clock

__all__ = ["open_amd"]

COMPONENT = "amd"
MHZ = 1e6
# amdsmi_wrapper.AMDSMI_STATUS_NOT_SUPPORTED; the wrapper module is not public API.
STATUS_NOT_SUPPORTED = 2


def number(value: Any) -> float | None:
    """amdsmi's value as a float; None for its "N/A" strings."""
    return float(value) if isinstance(value, int | float) else None


def _utilization(smi: Any, handle: Any) -> Sequence[float | None]:
    busy = number(smi.amdsmi_get_gpu_activity(handle)["gfx_activity"])
    return (None if busy is None else busy / 100,)


def _memory(smi: Any, handle: Any) -> Sequence[float | None]:
    used = number(smi.amdsmi_get_gpu_memory_usage(handle, smi.AmdSmiMemoryType.VRAM))
    total = number(smi.amdsmi_get_gpu_memory_total(handle, smi.AmdSmiMemoryType.VRAM))
    share = used / total if used is not None and total else None
    return (used, total, share)


def _temperature(smi: Any, handle: Any) -> Sequence[float | None]:
    # The hotspot (junction) sensor exists on every generation; MI300 has no edge sensor.
    kind, metric = smi.AmdSmiTemperatureType.HOTSPOT, smi.AmdSmiTemperatureMetric.CURRENT
    return (number(smi.amdsmi_get_temp_metric(handle, kind, metric)),)


def _power(smi: Any, handle: Any) -> Sequence[float | None]:
    info = smi.amdsmi_get_power_info(handle)
    watts = number(info.get("current_socket_power"))
    return (watts if watts is not None else number(info.get("average_socket_power")),)


def _energy(smi: Any, handle: Any) -> Sequence[float | None]:
    count = smi.amdsmi_get_energy_count(handle)
    # The accumulator counts steps of counter_resolution microjoules.
    return (count["energy_accumulator"] * count["counter_resolution"] / 1e6,)


def _clock(smi: Any, handle: Any) -> Sequence[float | None]:
    mhz = number(smi.amdsmi_get_clock_info(handle, smi.AmdSmiClkType.GFX)["clk"])
    return (None if mhz is None else mhz * MHZ,)


QUERIES: tuple[GpuQuery, ...] = (
    GpuQuery("utilization", (GPU_UTILIZATION,), _utilization),
    GpuQuery("memory", (GPU_MEMORY_USAGE, GPU_MEMORY_LIMIT, GPU_MEMORY_UTILIZATION), _memory),
    GpuQuery("temperature", (GPU_TEMPERATURE,), _temperature, attributes="component"),
    GpuQuery("power", (GPU_POWER,), _power, attributes="component"),
    GpuQuery("energy", (GPU_ENERGY,), _energy, attributes="component"),
    GpuQuery("GFX clock", (GPU_FREQUENCY,), _clock),
)


class AmdBackend:
    """amdsmi, initialised; lists GPUs and says what an amdsmi error means."""

    component = COMPONENT
    vendor = "AMD"
    queries = QUERIES

    def __init__(self, smi: Any) -> None:
        self.lib = smi
        self.errors: tuple[type[Exception], ...] = (smi.AmdSmiException,)
        smi.amdsmi_init()

    def devices(self) -> list[GpuIdentity]:
        identities = []
        for handle in self.lib.amdsmi_get_processor_handles():
            try:
                uuid = self.lib.amdsmi_get_gpu_device_uuid(handle)
                name = self.lib.amdsmi_get_gpu_asic_info(handle)["market_name"]
                driver = self.lib.amdsmi_get_gpu_driver_info(handle)["driver_version"]
            except self.lib.AmdSmiException:
                continue  # one broken GPU must not hide the others
            identities.append(GpuIdentity(handle, str(uuid), str(name), str(driver)))
        return identities

    def is_unsupported(self, exc: Exception) -> bool:
        return getattr(exc, "err_code", None) == STATUS_NOT_SUPPORTED

    def is_lost(self, exc: Exception) -> bool:
        return False  # amdsmi has no "GPU lost" status: repeated failures decide

    def shutdown(self) -> None:
        with contextlib.suppress(self.lib.AmdSmiException):
            self.lib.amdsmi_shut_down()


def import_amdsmi() -> Any:
    """The amdsmi module, or the reason it cannot be used (a string)."""
    if importlib.util.find_spec("amdsmi") is None:
        return "amdsmi is not installed (pip install 'autobot-apm[amd]')"
    try:
        return importlib.import_module("amdsmi")
    except Exception as exc:
        return f"amdsmi could not load ROCm's libamd_smi ({type(exc).__name__}: {exc})"


def open_amd(amdsmi: Any | None = None, clock: Clock = time.monotonic) -> GpuSource | Absent:
    """Start amdsmi and list the GPUs; :class:`Absent` with the reason when there are none."""
    smi = import_amdsmi() if amdsmi is None else amdsmi
    if isinstance(smi, str):
        return Absent(COMPONENT, smi)
    try:
        backend = AmdBackend(smi)
    except smi.AmdSmiException as exc:
        return Absent(COMPONENT, f"amdsmi did not start: {exc}")
    return gpu_source(backend, clock, "amdsmi", "amdsmi sees no AMD GPU")
