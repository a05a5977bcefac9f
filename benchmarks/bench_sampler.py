"""Cost of one sampler collection: host + process + the GPUs NVML sees.

Budget: at most 1 ms of CPU per collection on the reference machine (docs/hardware.md).

    python benchmarks/bench_sampler.py            # full run
    python benchmarks/bench_sampler.py --quick    # smoke run, a few iterations
    python benchmarks/bench_sampler.py --show     # print every metric collected once

CPU time is the process's (``time.process_time_ns``), so it counts time spent in the
kernel for /proc reads and NVML ioctls, and nothing of other processes.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if importlib.util.find_spec("autobot_apm") is None:  # run from a checkout, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from autobot_apm.sampler import start_sampler
from autobot_apm.sampler._start import build_sampler

BUDGET_US = 1000.0


def cpu_cost_us(action: Callable[[], object], iterations: int) -> list[float]:
    costs = []
    for _ in range(iterations):
        start = time.process_time_ns()
        action()
        costs.append((time.process_time_ns() - start) / 1000)
    return costs


def wall_cost_us(action: Callable[[], object], iterations: int) -> list[float]:
    costs = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        action()
        costs.append((time.perf_counter_ns() - start) / 1000)
    return costs


def summary(label: str, costs: list[float]) -> str:
    ordered = sorted(costs)
    p10, p90 = ordered[len(ordered) // 10], ordered[(len(ordered) * 9) // 10]
    return (
        f"{label:<44} median {statistics.median(costs):8.1f} us   p10 {p10:8.1f}   "
        f"p90 {p90:8.1f}   min {ordered[0]:8.1f}   max {ordered[-1]:8.1f}   (n={len(costs)})"
    )


def bench_collection(iterations: int) -> None:
    sampler = build_sampler(host=True, process=True, gpu="auto", npu=False, interval=0)
    print("parts:", ", ".join(f"{s.component}={s.status}" for s in sampler.describe()))
    for _ in range(5):
        sampler.collect()  # warm caches; the slow energy read happens here, once
    costs = cpu_cost_us(sampler.collect, iterations)
    print(summary("collection, CPU (sampler.collect)", costs))
    print(summary("collection, wall", wall_cost_us(sampler.collect, iterations)))
    for source in sampler.sources:
        print(summary(f"  {source.component} alone, CPU", cpu_cost_us(source.collect, iterations)))
    sampler.stop()
    verdict = "within" if statistics.median(costs) <= BUDGET_US else "OVER"
    print(f"budget {BUDGET_US:.0f} us of CPU per collection: median is {verdict} budget")


def bench_through_sdk(iterations: int) -> None:
    """A reader's whole collection; then the same with the snapshot reused (SDK only)."""
    for label, interval in (("reader collection, all in, CPU", 0.0),
                            ("reader collection, snapshot reused, CPU", 3600.0)):  # fmt: skip
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        sampler = start_sampler(meter_provider=provider, npu=False, interval=interval)
        for _ in range(5):
            data = reader.get_metrics_data()
        costs = cpu_cost_us(reader.get_metrics_data, iterations)
        print(summary(label, costs) + f"  {count_points(data)} points")
        sampler.stop()


def count_points(data: object) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in getattr(data, "resource_metrics", [])
        for scope in resource_metrics.scope_metrics
        for metric in scope.metrics
    )


def bench_nvml_calls(iterations: int) -> None:
    """Per-call cost of each NVML query the sampler makes, on the first GPU."""
    from autobot_apm.sampler.nvidia import QUERIES, open_nvidia

    source = open_nvidia()
    if not hasattr(source, "devices"):
        print("NVML calls: no GPU here:", getattr(source, "reason", source))
        return
    nvml = source.backend.lib
    handle = next(iter(source.devices.values())).identity.handle
    for query in QUERIES:
        count = max(3, iterations // 10) if query.slow else iterations
        try:
            wall = wall_cost_us(lambda q=query: q.read(nvml, handle), count)
            cpu = cpu_cost_us(lambda q=query: q.read(nvml, handle), count)
        except nvml.NVMLError as exc:
            print(f"  NVML {query.label:<16} not available: {exc}")
            continue
        print(f"  NVML {query.label:<16} median wall {statistics.median(wall):9.1f} us, "
              f"CPU {statistics.median(cpu):9.1f} us (n={count})")  # fmt: skip

    def pcie() -> object:
        return nvml.nvmlDeviceGetPcieThroughput(handle, nvml.NVML_PCIE_UTIL_TX_BYTES)

    try:
        wall, cpu = wall_cost_us(pcie, 3), cpu_cost_us(pcie, 3)
        print(f"  NVML {'PCIe TX (unused)':<16} median wall {statistics.median(wall):9.1f} us, "
              f"CPU {statistics.median(cpu):9.1f} us (n=3)")  # fmt: skip
    except nvml.NVMLError as exc:
        print(f"  NVML PCIe throughput not available: {exc}")
    source.close()


def show(touch_gpu: bool) -> None:
    """Collect once through the SDK and print every metric point."""
    keep = None
    if touch_gpu:
        import torch  # only on the GPU machine: gives this process a GPU context

        keep = torch.ones(256 * 2**20, device="cuda")  # 1 GiB
        torch.cuda.synchronize()
    reader = InMemoryMetricReader()
    sampler = start_sampler(meter_provider=MeterProvider(metric_readers=[reader]))
    time.sleep(1.0)  # a utilization over one second, like a real export interval
    data = reader.get_metrics_data()
    for status in sampler.describe():
        print(f"{status.component:<16} {status.status:<7} {status.detail}")
    for resource_metrics in data.resource_metrics if data else []:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = dict(point.attributes or {})
                    print(f"{metric.name} [{metric.unit}] {attributes} = {point.value}")
    sampler.stop()
    del keep


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations only")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--show", action="store_true", help="print every metric once")
    parser.add_argument("--touch-gpu", action="store_true", help="hold 1 GiB on the GPU (torch)")
    args = parser.parse_args()
    if args.show:
        show(args.touch_gpu)
        return 0
    iterations = 20 if args.quick else args.iterations
    bench_collection(iterations)
    bench_through_sdk(iterations)
    bench_nvml_calls(iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
