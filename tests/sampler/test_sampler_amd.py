"""AMD GPUs through a fake amdsmi-shaped module; the real one is optional and absent here."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import pytest

from autobot_apm.sampler import amd
from autobot_apm.sampler._gpu import GpuSource
from autobot_apm.sampler._types import Absent
from autobot_apm.sampler.amd import open_amd

GIB = 2**30


class FakeAmdSmiError(Exception):
    """Shaped like amdsmi.AmdSmiLibraryException: the status is in ``err_code``."""

    def __init__(self, err_code: int) -> None:
        super().__init__(err_code)
        self.err_code = err_code


class FakeAmdSmi:
    """An amdsmi-shaped object with one MI300X-like GPU."""

    AmdSmiException = FakeAmdSmiError
    AmdSmiMemoryType = IntEnum("AmdSmiMemoryType", "VRAM VIS_VRAM GTT")
    AmdSmiTemperatureType = IntEnum("AmdSmiTemperatureType", "EDGE HOTSPOT VRAM")
    AmdSmiTemperatureMetric = IntEnum("AmdSmiTemperatureMetric", "CURRENT MAX")
    AmdSmiClkType = IntEnum("AmdSmiClkType", "SYS GFX")

    def __init__(self, handles: list[str] | None = None, init_error: int | None = None) -> None:
        self.handles = ["gpu0"] if handles is None else handles
        self.init_error = init_error
        self.unsupported: set[str] = set()
        self.activity: Any = 55
        self.shutdowns = 0

    def _check(self, call: str) -> None:
        if call in self.unsupported:
            raise FakeAmdSmiError(amd.STATUS_NOT_SUPPORTED)

    def amdsmi_init(self) -> None:
        if self.init_error is not None:
            raise FakeAmdSmiError(self.init_error)

    def amdsmi_shut_down(self) -> None:
        self.shutdowns += 1

    def amdsmi_get_processor_handles(self) -> list[str]:
        return self.handles

    def amdsmi_get_gpu_device_uuid(self, handle: str) -> str:
        return f"uuid-{handle}"

    def amdsmi_get_gpu_asic_info(self, handle: str) -> dict[str, Any]:
        return {"market_name": "AMD Instinct MI300X"}

    def amdsmi_get_gpu_driver_info(self, handle: str) -> dict[str, Any]:
        return {"driver_version": "6.10.5"}

    def amdsmi_get_gpu_activity(self, handle: str) -> dict[str, Any]:
        self._check("activity")
        return {"gfx_activity": self.activity, "umc_activity": 3, "mm_activity": "N/A"}

    def amdsmi_get_gpu_memory_usage(self, handle: str, kind: int) -> int:
        assert kind == self.AmdSmiMemoryType.VRAM
        return 48 * GIB

    def amdsmi_get_gpu_memory_total(self, handle: str, kind: int) -> int:
        return 192 * GIB

    def amdsmi_get_temp_metric(self, handle: str, sensor: int, metric: int) -> int:
        self._check("temperature")
        assert sensor == self.AmdSmiTemperatureType.HOTSPOT
        return 61

    def amdsmi_get_power_info(self, handle: str) -> dict[str, Any]:
        return {"current_socket_power": "N/A", "average_socket_power": 350, "power_limit": 750}

    def amdsmi_get_energy_count(self, handle: str) -> dict[str, Any]:
        return {"energy_accumulator": 2_000_000, "counter_resolution": 15.3, "timestamp": 1}

    def amdsmi_get_clock_info(self, handle: str, kind: int) -> dict[str, Any]:
        assert kind == self.AmdSmiClkType.GFX
        return {"clk": 2100, "min_clk": 500, "max_clk": 2100}


def opened(smi: FakeAmdSmi) -> GpuSource:
    source = open_amd(smi)
    assert isinstance(source, GpuSource), source
    return source


def values(source: GpuSource) -> dict[str, float]:
    return {reading.metric: reading.value for reading in source.collect()}


class TestAmdReadings:
    def test_same_names_and_units_as_nvidia(self) -> None:
        """AMD values come out under the hw.* names, in 0..1, bytes, Cel, W, J and Hz."""
        found = values(opened(FakeAmdSmi()))
        assert {
            "hw.gpu.utilization": 0.55,
            "hw.gpu.memory.usage": 48 * GIB,
            "hw.gpu.memory.limit": 192 * GIB,
            "hw.gpu.memory.utilization": 0.25,
            "hw.temperature": 61,
            "hw.power": 350,
            "hw.energy": pytest.approx(30.6),
            "hw.gpu.frequency": 2.1e9,
        } == found

    def test_identity_attributes(self) -> None:
        """hw.id is amdsmi's UUID, hw.vendor AMD, with the market name and driver."""
        [reading, *_] = opened(FakeAmdSmi()).collect()
        assert {
            "hw.id": "uuid-gpu0",
            "hw.name": "AMD Instinct MI300X",
            "hw.vendor": "AMD",
            "hw.driver_version": "6.10.5",
        } == dict(reading.attributes)

    def test_not_available_value_is_skipped(self) -> None:
        """amdsmi's "N/A" is no value, not an error."""
        smi = FakeAmdSmi()
        smi.activity = "N/A"
        source = opened(smi)
        assert ("hw.gpu.utilization" in values(source), "ok") == (
            False,
            source.describe()[0].status,
        )

    def test_unsupported_call_skipped_and_named(self) -> None:
        """NOT_SUPPORTED skips the call for good; describe() names it."""
        smi = FakeAmdSmi()
        smi.unsupported.add("temperature")
        source = opened(smi)
        found = values(source)
        assert ("hw.temperature" in found, True) == (
            False,
            "not supported: temperature" in source.describe()[0].detail,
        )


class TestAmdAbsent:
    def test_amdsmi_not_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the amdsmi package: absent, naming the pip extra."""
        monkeypatch.setattr(amd.importlib.util, "find_spec", lambda name: None)
        absent = open_amd()
        assert isinstance(absent, Absent)
        assert "pip install 'autobot-apm[amd]'" in absent.reason

    def test_amdsmi_without_rocm_raises_key_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """amdsmi's import raises KeyError without ROCm: absent with the reason, no crash."""

        def import_without_rocm(name: str) -> Any:
            raise KeyError("ROCM_PATH")

        monkeypatch.setattr(amd.importlib.util, "find_spec", lambda name: object())
        monkeypatch.setattr(amd.importlib, "import_module", import_without_rocm)
        absent = open_amd()
        assert isinstance(absent, Absent)
        assert "KeyError" in absent.reason

    def test_init_failure(self) -> None:
        """amdsmi_init failing (no amdgpu driver) is absent, never an exception."""
        assert isinstance(open_amd(FakeAmdSmi(init_error=8)), Absent)

    def test_no_gpu(self) -> None:
        """amdsmi sees no GPU: absent, library released."""
        smi = FakeAmdSmi(handles=[])
        absent = open_amd(smi)
        assert (Absent, 1) == (type(absent), smi.shutdowns)
