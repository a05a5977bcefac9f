"""NVIDIA GPUs through NVML: a fake pynvml-shaped module in CI, the real one when present."""

# ruff: noqa: N802  # the fake mirrors pynvml's camelCase function names

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from autobot_apm._tracking.errors import ConfigurationError
from autobot_apm.sampler._devices import FAILURE_LIMIT, REPROBE_SECONDS
from autobot_apm.sampler._gpu import SLOW_QUERY_SECONDS
from autobot_apm.sampler._instruments import attach
from autobot_apm.sampler._start import build_sampler
from autobot_apm.sampler._types import Absent
from autobot_apm.sampler.nvidia import open_nvidia

GIB = 2**30


class FakeNVMLError(Exception):
    """Shaped like pynvml.NVMLError: the NVML return code is in ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return f"fake NVML error {self.value}"


@dataclass
class FakeGpu:
    uuid: str = "GPU-11111111-2222-3333-4444-555555555555"
    name: str | bytes = "NVIDIA H100 80GB HBM3"
    utilization: int = 37
    memory_used: int = 4 * GIB
    memory_total: int = 80 * GIB
    temperature: int = 41
    power_mw: int = 72_500
    energy_mj: int = 5_000_000
    sm_mhz: int = 1980
    fan_percent: int | None = None  # None: NOT_SUPPORTED, as on an H100
    processes: list[Any] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)  # call -> NVML error code
    lost: bool = False


class FakeNvml:
    """A pynvml-shaped object: the NVML calls and constants the sampler uses."""

    NVMLError = FakeNVMLError
    NVML_ERROR_NO_PERMISSION = 4
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_ERROR_UNKNOWN = 999
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(self, *gpus: FakeGpu, init_error: int | None = None) -> None:
        self.gpus = list(gpus)
        self.init_error = init_error
        self.calls: Counter[str] = Counter()
        self.shutdowns = 0

    def _call(self, gpu: FakeGpu, name: str) -> None:
        self.calls[name] += 1
        if gpu.lost:
            raise FakeNVMLError(self.NVML_ERROR_GPU_IS_LOST)
        if name in gpu.failing:
            raise FakeNVMLError(gpu.failing[name])

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        self._call(gpu, "uuid")
        return gpu.uuid

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str | bytes:
        return gpu.name

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        self._call(gpu, "utilization")
        return SimpleNamespace(gpu=gpu.utilization, memory=10)

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> Any:
        self._call(gpu, "memory")
        free = gpu.memory_total - gpu.memory_used
        return SimpleNamespace(used=gpu.memory_used, total=gpu.memory_total, free=free)

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        self._call(gpu, "temperature")
        return gpu.temperature

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        self._call(gpu, "power")
        return gpu.power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        self._call(gpu, "energy")
        return gpu.energy_mj

    def nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        self._call(gpu, "clock")
        return gpu.sm_mhz

    def nvmlDeviceGetFanSpeed(self, gpu: FakeGpu) -> int:
        self._call(gpu, "fan")
        if gpu.fan_percent is None:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return gpu.fan_percent

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[Any]:
        self._call(gpu, "processes")
        return gpu.processes


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def values(source: Any) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One collection of a source, by metric name."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for reading in source.collect():
        found.setdefault(reading.metric, []).append((dict(reading.attributes), reading.value))
    return found


def only_value(source: Any, metric: str) -> float:
    [(_, value)] = values(source)[metric]
    return value


def opened(nvml: FakeNvml, clock: FakeClock | None = None) -> Any:
    source = open_nvidia(nvml, clock or FakeClock())
    assert not isinstance(source, Absent), source
    return source


class TestNvidiaReadings:
    def test_each_metric_in_semconv_units(self) -> None:
        """Utilization is a 0..1 share, memory bytes, temperature Cel, power W, energy J."""
        found = values(opened(FakeNvml(FakeGpu())))
        expected = {
            "hw.gpu.utilization": 0.37,
            "hw.gpu.memory.usage": 4 * GIB,
            "hw.gpu.memory.limit": 80 * GIB,
            "hw.gpu.memory.utilization": 0.05,
            "hw.temperature": 41,
            "hw.power": 72.5,
            "hw.energy": 5000.0,
            "hw.gpu.frequency": 1.98e9,
        }
        assert expected == {name: found[name][0][1] for name in expected}

    def test_gpu_identity_attributes(self) -> None:
        """Every GPU metric carries hw.id (the UUID), hw.name, hw.vendor and the driver."""
        [(attributes, _)] = values(opened(FakeNvml(FakeGpu())))["hw.gpu.utilization"]
        assert {
            "hw.id": "GPU-11111111-2222-3333-4444-555555555555",
            "hw.name": "NVIDIA H100 80GB HBM3",
            "hw.vendor": "NVIDIA",
            "hw.driver_version": "580.159.04",
        } == attributes

    @pytest.mark.parametrize("metric", ["hw.temperature", "hw.power", "hw.energy"])
    def test_component_metrics_say_gpu(self, metric: str) -> None:
        """Temperature, power and energy are shared hw.* names, so they carry hw.type=gpu."""
        [(attributes, _)] = values(opened(FakeNvml(FakeGpu())))[metric]
        assert "gpu" == attributes["hw.type"]

    def test_bytes_names_from_old_nvml_bindings(self) -> None:
        """Older nvidia-ml-py returns bytes; attributes are always text."""
        [(attributes, _)] = values(opened(FakeNvml(FakeGpu(name=b"Tesla T4"))))["hw.power"]
        assert "Tesla T4" == attributes["hw.name"]

    def test_this_process_gpu_memory(self) -> None:
        """The memory this process holds on the GPU is found by pid."""
        gpu = FakeGpu(
            processes=[
                SimpleNamespace(pid=1, usedGpuMemory=5),
                SimpleNamespace(pid=os.getpid(), usedGpuMemory=3 * GIB),
            ]
        )
        assert 3 * GIB == only_value(opened(FakeNvml(gpu)), "process.gpu.memory.usage")

    @pytest.mark.parametrize(
        "processes", [[], [SimpleNamespace(pid=os.getpid(), usedGpuMemory=None)]]
    )
    def test_no_process_memory_without_a_context(self, processes: list[Any]) -> None:
        """No context on the GPU, or memory withheld by the driver: no value, not a false 0."""
        found = values(opened(FakeNvml(FakeGpu(processes=processes))))
        assert "process.gpu.memory.usage" not in found

    def test_fan_speed_when_the_board_has_a_fan(self) -> None:
        """A fan is its own hw component, child of the GPU."""
        [(attributes, value)] = values(opened(FakeNvml(FakeGpu(fan_percent=30))))[
            "hw.fan.speed_ratio"
        ]
        assert (0.3, "fan", "GPU-11111111-2222-3333-4444-555555555555") == (
            value,
            attributes["hw.type"],
            attributes["hw.parent"],
        )

    def test_two_gpus_two_series(self) -> None:
        """Each GPU is its own series, told apart by hw.id."""
        nvml = FakeNvml(FakeGpu(uuid="GPU-a"), FakeGpu(uuid="GPU-b", utilization=90))
        found = values(opened(nvml))["hw.gpu.utilization"]
        assert {"GPU-a": 0.37, "GPU-b": 0.9} == {a["hw.id"]: v for a, v in found}


class TestNvidiaUnsupportedFields:
    def test_unsupported_field_skipped_quietly(self) -> None:
        """Fan speed on an H100 is NOT_SUPPORTED: no value, no error, the rest reported."""
        source = opened(FakeNvml(FakeGpu()))
        found = values(source)
        assert ("hw.fan.speed_ratio" not in found, "ok") == (True, source.describe()[0].status)

    def test_unsupported_field_not_asked_again(self) -> None:
        """Once NVML says a call is unsupported on a GPU, it is never made again."""
        nvml = FakeNvml(FakeGpu())
        source = opened(nvml)
        for _ in range(3):
            source.collect()
        assert 1 == nvml.calls["fan"]

    def test_doctor_names_unsupported_fields(self) -> None:
        """describe() lists what the GPU does not support, in words."""
        source = opened(FakeNvml(FakeGpu()))
        source.collect()
        assert "not supported: fan speed" in source.describe()[0].detail


class TestNvidiaAbsent:
    @pytest.mark.parametrize(
        ("code", "words"),
        [
            (12, "NVML library not found"),
            (9, "driver is installed but not loaded"),
            (999, "NVML did not start"),
        ],
    )
    def test_nvml_that_does_not_start_is_absent(self, code: int, words: str) -> None:
        """No library or no driver: an Absent with the reason, never an exception."""
        absent = open_nvidia(FakeNvml(init_error=code))
        assert (Absent, True) == (type(absent), words in absent.reason)

    def test_no_gpu_is_absent(self) -> None:
        """NVML loads but lists no GPU (a container without one): absent, NVML released."""
        nvml = FakeNvml()
        absent = open_nvidia(nvml)
        assert ("NVML (driver 580.159.04) sees no GPU", 1) == (absent.reason, nvml.shutdowns)

    def test_absent_gpu_means_no_gauges_and_one_line(self) -> None:
        """With gpu='auto' and no NVML: host gauges only, one 'absent' line in describe()."""
        reader = InMemoryMetricReader()
        sampler = start_with_fakes(
            meter_provider=MeterProvider(metric_readers=[reader]),
            npu=False,
            process=False,
            nvml=FakeNvml(init_error=12),
            interval=0,
        )
        names = metric_names(reader)
        lines = [s for s in sampler.describe() if s.component == "nvidia"]
        sampler.stop()
        assert (False, 1, "absent") == (
            any(n.startswith("hw.") for n in names),
            len(lines),
            lines[0].status,
        )

    def test_required_gpu_absent_raises_at_start(self) -> None:
        """gpu=True on a machine without one fails start_sampler, naming the reason."""
        with pytest.raises(ConfigurationError, match="NVML library not found") as caught:
            start_with_fakes(meter_provider=MeterProvider(), nvml=FakeNvml(init_error=12), gpu=True)
        assert "sampler.gpu" == caught.value.setting

    def test_real_pynvml_without_a_driver(self) -> None:
        """The real pynvml module on a machine without a driver reports NVML absent."""
        pynvml = pytest.importorskip("pynvml")
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError:
            pass
        else:
            pynvml.nvmlShutdown()
            pytest.skip("an NVIDIA driver is present here")
        absent = open_nvidia()
        assert (Absent, "nvidia") == (type(absent), absent.component)


class TestNvidiaFailures:
    def test_driver_error_skips_only_that_value(self) -> None:
        """An NVML error on one call mid-run loses that value; the others are reported."""
        gpu = FakeGpu()
        source = opened(FakeNvml(gpu))
        source.collect()
        gpu.failing["power"] = FakeNvml.NVML_ERROR_UNKNOWN
        found = values(source)
        assert ("hw.power" in found, "hw.temperature" in found) == (False, True)

    def test_value_returns_when_the_error_clears(self) -> None:
        """A transient error costs one reading: the next collection has the value again."""
        gpu = FakeGpu(failing={"power": FakeNvml.NVML_ERROR_UNKNOWN})
        source = opened(FakeNvml(gpu))
        source.collect()
        gpu.failing.clear()
        assert 72.5 == only_value(source, "hw.power")

    def test_gpu_failing_everything_is_marked_gone(self) -> None:
        """Every call failing FAILURE_LIMIT collections in a row marks the GPU gone."""
        gpu = FakeGpu()
        source = opened(FakeNvml(gpu))
        gpu.failing = dict.fromkeys(
            ["utilization", "memory", "temperature", "power", "energy", "clock", "processes"],
            FakeNvml.NVML_ERROR_UNKNOWN,
        )
        for _ in range(FAILURE_LIMIT):
            source.collect()
        assert ({}, "gone") == (values(source), source.describe()[0].status)

    def test_lost_gpu_is_gone_at_once(self) -> None:
        """NVML's GPU_IS_LOST marks the GPU gone without waiting for more failures."""
        gpu = FakeGpu()
        source = opened(FakeNvml(gpu))
        gpu.lost = True
        source.collect()
        assert "gone" == source.describe()[0].status

    def test_other_gpus_go_on_when_one_is_lost(self) -> None:
        """Losing one GPU keeps the others' gauges."""
        lost = FakeGpu(uuid="GPU-lost")
        source = opened(FakeNvml(lost, FakeGpu(uuid="GPU-ok")))
        lost.lost = True
        source.collect()
        found = values(source)["hw.gpu.utilization"]
        assert ["GPU-ok"] == [attributes["hw.id"] for attributes, _ in found]

    def test_hot_unplugged_gpu_comes_back_after_reprobe(self) -> None:
        """A GPU that vanishes and returns is sampled again, same hw.id, after a re-probe."""
        clock, gpu = FakeClock(), FakeGpu()
        nvml = FakeNvml(gpu)
        source = opened(nvml, clock)
        gpu.lost, nvml.gpus = True, []
        source.collect()
        nvml.gpus = [FakeGpu()]
        clock.now += REPROBE_SECONDS / 2
        before = values(source)
        clock.now += REPROBE_SECONDS
        after = values(source)
        assert ({}, "GPU-11111111-2222-3333-4444-555555555555") == (
            before,
            after["hw.gpu.utilization"][0][0]["hw.id"],
        )

    def test_failed_relisting_is_retried_later(self) -> None:
        """If NVML cannot list GPUs during a re-probe, the sampler waits for the next one."""
        clock, gpu = FakeClock(), FakeGpu()
        nvml = FakeNvml(gpu)
        source = opened(nvml, clock)
        gpu.lost = True
        source.collect()
        nvml.nvmlDeviceGetCount = _raise_unknown  # type: ignore[method-assign]
        clock.now += REPROBE_SECONDS
        assert ({}, "gone") == (values(source), source.describe()[0].status)


def _raise_unknown() -> int:
    raise FakeNVMLError(FakeNvml.NVML_ERROR_UNKNOWN)


class TestNvidiaSlowQueries:
    def test_energy_read_at_most_every_slow_period(self) -> None:
        """The slow energy call is made once per SLOW_QUERY_SECONDS; its value is repeated."""
        clock, nvml = FakeClock(), FakeNvml(FakeGpu())
        source = opened(nvml, clock)
        energies = []
        for _ in range(3):
            energies.append(only_value(source, "hw.energy"))
            clock.now += 1
        assert ([5000.0] * 3, 1) == (energies, nvml.calls["energy"])

    def test_energy_read_again_after_the_slow_period(self) -> None:
        """After SLOW_QUERY_SECONDS the counter is read anew."""
        clock, gpu = FakeClock(), FakeGpu()
        nvml = FakeNvml(gpu)
        source = opened(nvml, clock)
        source.collect()
        gpu.energy_mj = 6_000_000
        clock.now += SLOW_QUERY_SECONDS
        assert (6000.0, 2) == (only_value(source, "hw.energy"), nvml.calls["energy"])

    def test_fast_fields_read_every_collection(self) -> None:
        """Utilization is read at every collection, not cached."""
        nvml = FakeNvml(FakeGpu())
        source = opened(nvml)
        for _ in range(3):
            source.collect()
        assert 3 == nvml.calls["utilization"]


class TestNvidiaThroughTheSdk:
    def test_gpu_metrics_reach_the_reader(self) -> None:
        """start_sampler with a fake NVML exports hw.gpu.* with units through the SDK."""
        reader = InMemoryMetricReader()
        sampler = start_with_fakes(
            meter_provider=MeterProvider(metric_readers=[reader]),
            nvml=FakeNvml(FakeGpu()),
            host=False,
            process=False,
            npu=False,
        )
        units = metric_units(reader)
        sampler.stop()
        assert ("1", "By", "Cel", "W", "J", "Hz") == (
            units["hw.gpu.utilization"],
            units["hw.gpu.memory.usage"],
            units["hw.temperature"],
            units["hw.power"],
            units["hw.energy"],
            units["hw.gpu.frequency"],
        )

    def test_stop_releases_nvml(self) -> None:
        """Stopping the sampler shuts NVML down once, however often stop() is called."""
        nvml = FakeNvml(FakeGpu())
        sampler = start_with_fakes(
            meter_provider=MeterProvider(), nvml=nvml, host=False, process=False, npu=False
        )
        sampler.stop()
        sampler.stop()
        assert 1 == nvml.shutdowns


def metric_units(reader: InMemoryMetricReader) -> dict[str, str]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        m.name: m.unit or ""
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }


def metric_names(reader: InMemoryMetricReader) -> set[str]:
    return set(metric_units(reader))


def _real_gpu_present() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return False
    try:
        return bool(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()


@pytest.mark.gpu
@pytest.mark.skipif(not _real_gpu_present(), reason="needs an NVIDIA GPU and driver")
class TestRealGpu:
    def test_real_values_are_plausible(self) -> None:
        """On a real GPU every core gauge is present and in a sane range."""
        source = open_nvidia()
        assert not isinstance(source, Absent), source
        found = {name: readings[0][1] for name, readings in values(source).items()}
        source.close()
        assert (True, True, True, True, True) == (
            0.0 <= found["hw.gpu.utilization"] <= 1.0,
            found["hw.gpu.memory.limit"] > GIB,
            0 <= found["hw.gpu.memory.utilization"] <= 1,
            5 <= found["hw.temperature"] <= 110,
            0 < found["hw.power"] < 2000,
        )

    def test_real_gpu_identity(self) -> None:
        """hw.id is NVML's UUID (GPU-...), hw.name the product name."""
        source = open_nvidia()
        assert not isinstance(source, Absent), source
        [(attributes, _)] = values(source)["hw.gpu.utilization"][:1]
        source.close()
        assert (True, True) == (attributes["hw.id"].startswith("GPU-"), bool(attributes["hw.name"]))


def start_with_fakes(meter_provider, **options):
    """start_sampler, with fakes standing in for the vendor modules (nvml=, amdsmi=)."""
    sampler = build_sampler(**options)
    attach(sampler, meter_provider)
    return sampler
