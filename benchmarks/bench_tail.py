"""Tail latency of tracked calls while the exporter works flat out, and why.

Many individual calls, each timed on its own (``perf_counter_ns``), in one process:
``track_database``, ``track_cache``, ``track_llm`` with an OpenAI-shaped result, and the
hand-written SDK floor (``_floor.Floor``), under three export conditions built as
``configure()`` builds them:

- no exporter: spans and metrics are made and go nowhere (no export thread);
- batch processor to a null exporter: the export thread runs, but has nothing to encode;
- OTLP to a loopback sink: the batch span processor encodes and sends every span and the
  metric reader collects and exports every 100 ms (600 times the default rate).

Then the levers, OTLP on, floor and ``track_database`` only: the interpreter's switch
interval, the export batch size, and the collector (``gc.freeze()``, collection off).

Blocks (one condition, every variant in shuffled order) are interleaved over rounds, and
each percentile pools every round's calls. Beside the wall-clock figures, the same
percentiles "in process": the time off the CPU of calls the kernel preempted without
their ever blocking is taken out (``_probe``; on a shared machine that is other
processes' doing); and for the slow calls, what overlapped them: a collection, a span
export, a metric export, and whether they blocked (the interpreter lock).

    python -m benchmarks.bench_tail [--quick] [--rounds N] [--calls N] [--protocol grpc]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace import sampling as otel_sampling
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import autobot_apm as apm
from autobot_apm._sdk import exporters as _exporters
from autobot_apm._sdk import health as _health
from autobot_apm._sdk.settings import Settings, resolve
from autobot_apm._sdk.setup import INSTRUMENTATION_SCOPE
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.llm import track_llm

from ._floor import Floor, db_tracker, openai_call, work
from ._harness import verdict
from ._probe import SWITCHES_KNOWN, Background, Samples, median_us, percentile, time_calls
from ._sdk import NullSpanExporter, use
from ._sink import running_sink

FLOOR = "hand-written floor (span + histogram)"
DATABASE = "track_database"
CACHE = "track_cache"
LLM = "track_llm (OpenAI-shaped result)"
ALL = (FLOOR, DATABASE, CACHE, LLM)
PAIR = (FLOOR, DATABASE)
METRIC_INTERVAL = 0.1  # seconds: flat out for a reader whose default is 60
DEFAULT_SWITCH = sys.getswitchinterval()
TAIL_BUDGET = 3.0  # p99.9 at most this many times the median


@dataclass(frozen=True)
class Condition:
    """One way of running the pipeline; a row group of the report."""

    name: str
    exporter: str = "otlp"  # "none", "null" or "otlp"
    batch: int = 512
    switch: float | None = None  # sys.setswitchinterval for the block
    collector: str = "on"  # "on", "frozen" (gc.freeze() after warm-up) or "off"
    variants: tuple[str, ...] = PAIR


EXPORT = Condition("OTLP, library defaults (batch 512, switch 5 ms)", variants=ALL)
HEADLINE = (
    Condition("no exporter", exporter="none", variants=ALL),
    Condition("batch processor, null exporter", exporter="null", variants=ALL),
    EXPORT,
)
LEVERS = (
    Condition("switch interval 1 ms", switch=0.001),
    Condition("switch interval 0.2 ms", switch=0.0002),
    Condition("batch 128", batch=128),
    Condition("batch 32", batch=32),
    Condition("gc.freeze() after warm-up", collector="frozen"),
    Condition("garbage collector off", collector="off"),
)


# --- the pipeline: what providers.py builds, with exports timed --------------------------


class TimedSpanExporter(SpanExporter):
    """Records each export's interval and span count, then hands the batch on."""

    def __init__(self, inner: SpanExporter, background: Background) -> None:
        self.inner = inner
        self.background = background
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        started = time.perf_counter_ns()
        try:
            return self.inner.export(spans)
        finally:
            self.spans += len(spans)
            self.background.record(started, time.perf_counter_ns(), "span export")

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class NullMetricExporter(MetricExporter):
    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class TimedReader(PeriodicExportingMetricReader):
    """The periodic reader, recording each collection (with its export) as an interval."""

    background: Background

    def collect(self, timeout_millis: float = 10_000) -> None:
        started = time.perf_counter_ns()
        try:
            super().collect(timeout_millis=timeout_millis)
        finally:
            self.background.record(started, time.perf_counter_ns(), "metric collect + export")


@dataclass
class Pipeline:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    runtime: _runtime.Runtime
    spans: TimedSpanExporter | None

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def settings_for(condition: Condition, endpoints: dict[str, str], protocol: str) -> Settings:
    key = "grpc" if protocol == "grpc" else "http"
    return resolve(
        {
            "service_name": "bench-tail",
            "endpoint": endpoints[key],
            "protocol": protocol,
            "span_batch_size": condition.batch,
            "metric_export_interval": METRIC_INTERVAL,
        },
        environ={},
    )


def build(
    condition: Condition, endpoints: dict[str, str], protocol: str, background: Background
) -> Pipeline:
    """Providers as ``_sdk/providers.py`` builds them, exporters wrapped to be timed."""
    settings = settings_for(condition, endpoints, protocol)
    resource = Resource.create({"service.name": "bench-tail"})
    sampler = otel_sampling.ParentBased(otel_sampling.ALWAYS_ON)
    tracer_provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
    readers: list[MetricReader] = []
    timed = None
    if condition.exporter != "none":
        real = condition.exporter == "otlp"
        span_exporter = _exporters.span_exporter(settings) if real else NullSpanExporter()
        metric_exporter = _exporters.metric_exporter(settings) if real else NullMetricExporter()
        assert span_exporter is not None
        assert metric_exporter is not None
        timed = TimedSpanExporter(_health.CountingSpanExporter(span_exporter), background)
        tracer_provider.add_span_processor(
            _health.CountingBatchSpanProcessor(
                timed,
                max_queue_size=settings.span_queue_size,
                max_export_batch_size=condition.batch,
                schedule_delay_millis=settings.span_schedule_delay * 1000,
            )
        )
        reader = TimedReader(
            _health.CountingMetricExporter(metric_exporter),
            export_interval_millis=METRIC_INTERVAL * 1000,
        )
        reader.background = background
        readers.append(reader)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    runtime = _runtime.Runtime(
        tracer_provider.get_tracer(INSTRUMENTATION_SCOPE),
        meter_provider.get_meter(INSTRUMENTATION_SCOPE),
        settings,
    )
    return Pipeline(tracer_provider, meter_provider, runtime, timed)


# --- the calls -----------------------------------------------------------------------------


def calls(runtime: _runtime.Runtime) -> dict[str, Callable[[], object]]:
    """Every variant's call; trackers are built anew, the floor on this runtime."""
    return {
        FLOOR: Floor(runtime, db_tracker()).start_span,
        DATABASE: db_tracker()(work),
        CACHE: apm.track_cache("sessions")(work),
        LLM: track_llm("openai", "gpt-4o")(openai_call),
    }


@dataclass
class Block:
    """What one condition's block measured besides the calls."""

    seconds: float = 0.0
    calls: int = 0
    spans_exported: int = 0
    dropped: int = 0
    other_threads_cpu: float = 0.0  # seconds of CPU not spent by the calling thread


@dataclass
class Measured:
    samples: dict[tuple[str, str], Samples] = field(default_factory=dict)
    blocks: dict[str, list[Block]] = field(default_factory=dict)
    background: dict[str, Background] = field(default_factory=dict)


@contextlib.contextmanager
def applied(condition: Condition) -> Iterator[None]:
    """The block's switch interval and collector setting, undone afterwards."""
    gc.collect()
    if condition.collector == "frozen":
        gc.freeze()
    elif condition.collector == "off":
        gc.disable()
    if condition.switch is not None:
        sys.setswitchinterval(condition.switch)
    try:
        yield
    finally:
        sys.setswitchinterval(DEFAULT_SWITCH)
        gc.enable()
        gc.unfreeze()


def dropped_spans() -> int:
    dropped = apm.telemetry_health()["dropped"]
    return sum(n for key, n in dropped.items() if key.startswith("traces."))


def block(
    condition: Condition,
    count: int,
    endpoints: dict[str, str],
    protocol: str,
    measured: Measured,
    shuffler: random.Random,
) -> None:
    background = measured.background.setdefault(condition.name, Background())
    pipeline = build(condition, endpoints, protocol, background)
    use(pipeline.runtime)
    made = calls(pipeline.runtime)
    for name in condition.variants:  # the first calls create the instruments
        for _ in range(200):
            made[name]()
    order = list(condition.variants)
    shuffler.shuffle(order)
    exported_before = pipeline.spans.spans if pipeline.spans else 0
    dropped_before = dropped_spans()
    with applied(condition), background:
        cpu, main, started = time.process_time(), time.thread_time(), time.perf_counter()
        for name in order:
            samples = measured.samples.setdefault((condition.name, name), Samples())
            time_calls(made[name], count, samples)
        seconds = time.perf_counter() - started
        other = (time.process_time() - cpu) - (time.thread_time() - main)
    exported = (pipeline.spans.spans if pipeline.spans else 0) - exported_before
    measured.blocks.setdefault(condition.name, []).append(
        Block(seconds, count * len(order), exported, dropped_spans() - dropped_before, other)
    )
    use(None)
    pipeline.close()


def measure(rounds: int, count: int, protocol: str, levers: bool) -> Measured:
    measured = Measured()
    conditions = [*HEADLINE, *(LEVERS if levers else ())]
    shuffler = random.Random(3)
    with running_sink() as endpoints:
        for _ in range(rounds):
            order = list(conditions)
            shuffler.shuffle(order)
            for condition in order:
                block(condition, count, endpoints, protocol, measured, shuffler)
    return measured


# --- the report ------------------------------------------------------------------------------


def figures(values: Sequence[int]) -> tuple[float, float, float, float]:
    """Median, p99 and p99.9 in µs, and p99.9 / median."""
    median = median_us(values)
    p999 = percentile(values, 0.999)
    return median, percentile(values, 0.99), p999, p999 / median


def headline(measured: Measured) -> list[str]:
    lines = [
        "#### Per-call latency by export condition (pooled over rounds)",
        "",
        "| condition | variant | calls | p50 µs | p99 µs | p99.9 µs | p99.9 / p50 "
        "| in-process p99.9 µs | in-process p99.9 / p50 | p99.9 x floor's |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for condition in HEADLINE:
        floor_p999 = percentile(measured.samples[(condition.name, FLOOR)].wall, 0.999)
        for name in condition.variants:
            lines.append(row(condition, name, measured, floor_p999))
    if not SWITCHES_KNOWN:
        lines.append("\n(no per-thread switch counts here: in-process figures are wall ones)")
    return lines


def row(condition: Condition, name: str, measured: Measured, floor_p999: float) -> str:
    samples = measured.samples[(condition.name, name)]
    median, p99, p999, ratio = figures(samples.wall)
    own = figures(samples.in_process())
    return (
        f"| {condition.name} | {name} | {len(samples)} | {median:.1f} | {p99:.1f} "
        f"| {p999:.1f} | {ratio:.1f} | {own[2]:.1f} | {own[3]:.1f} | {p999 / floor_p999:.2f} |"
    )


def lever_table(measured: Measured) -> list[str]:
    lines = [
        "#### Levers (OTLP on; in-process latency)",
        "",
        "| condition | variant | p50 µs | p99 µs | p99.9 µs | p99.9 / p50 | wall p99.9 / p50 "
        "| calls/s | spans exported/s | dropped | other threads' CPU µs per span |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for condition in (EXPORT, *LEVERS):
        if (condition.name, DATABASE) not in measured.samples:
            continue
        blocks = measured.blocks[condition.name]
        seconds = sum(b.seconds for b in blocks)
        exported = sum(b.spans_exported for b in blocks)
        rate = sum(b.calls for b in blocks) / seconds
        other_cpu = sum(b.other_threads_cpu for b in blocks)
        cpu_per_span = f"{other_cpu / exported * 1e6:.1f}" if exported else "-"
        for name in PAIR:
            samples = measured.samples[(condition.name, name)]
            median, p99, p999, ratio = figures(samples.in_process())
            wall_ratio = figures(samples.wall)[3]
            lines.append(
                f"| {condition.name} | {name} | {median:.1f} | {p99:.1f} | {p999:.1f} "
                f"| {ratio:.1f} | {wall_ratio:.1f} | {rate:.0f} | {exported / seconds:.0f} "
                f"| {sum(b.dropped for b in blocks)} | {cpu_per_span} |"
            )
    return lines


def causes(measured: Measured, condition: Condition) -> list[str]:
    """What overlapped the calls slower than the budget (3x the median, in-process)."""
    background = measured.background[condition.name]
    lines = [
        f'#### Slow calls under "{condition.name}": what ran meanwhile',
        "",
        "| variant | calls > 3x median (in-process) | share | blocked (lock) | preempted "
        "| mean off-CPU µs | mean CPU µs | overlapped (share of slow calls) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in condition.variants:
        samples = measured.samples[(condition.name, name)]
        own = samples.in_process()
        bound = TAIL_BUDGET * statistics.median(own)
        slow = [i for i, value in enumerate(own) if value > bound]
        if not slow:
            lines.append(f"| {name} | 0 | 0 | - | - | - | - | - |")
            continue
        seen: Counter[str] = Counter()
        for i in slow:
            start = samples.start[i]
            labels = set(background.overlapping(start, start + samples.wall[i]))
            seen.update(labels or {"nothing recorded"})
        overlapped = ", ".join(f"{label} {n / len(slow):.0%}" for label, n in seen.most_common())
        blocked = sum(1 for i in slow if samples.voluntary[i]) / len(slow)
        preempted = sum(1 for i in slow if samples.involuntary[i]) / len(slow)
        lines.append(
            f"| {name} | {len(slow)} | {len(slow) / len(own):.2%} | {blocked:.0%} "
            f"| {preempted:.0%} | {statistics.mean(samples.off_cpu(i) for i in slow) / 1000:.0f} "
            f"| {statistics.mean(samples.cpu[i] for i in slow) / 1000:.0f} | {overlapped} |"
        )
    return lines


def background_table(measured: Measured) -> list[str]:
    lines = [
        "#### Background work per condition (all rounds)",
        "",
        "| condition | work | count | median ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    for condition in HEADLINE:
        by_label: dict[str, list[float]] = {}
        for interval in measured.background[condition.name].intervals:
            by_label.setdefault(interval.label, []).append((interval.end - interval.start) / 1e6)
        for label, durations in sorted(by_label.items()):
            lines.append(
                f"| {condition.name} | {label} | {len(durations)} "
                f"| {statistics.median(durations):.2f} | {max(durations):.2f} |"
            )
    return lines


def budgets(measured: Measured) -> list[str]:
    lines = []
    for name in (DATABASE, CACHE, LLM):
        samples = measured.samples[(EXPORT.name, name)]
        lines.append(
            verdict(
                f"{name} p99.9 / median while exporting (in-process)",
                figures(samples.in_process())[3],
                TAIL_BUDGET,
            )
        )
    return lines


def run(
    quick: bool,
    rounds: int | None = None,
    count: int | None = None,
    protocol: str = "http/protobuf",
    levers: bool = True,
) -> str:
    rounds = rounds or (1 if quick else 5)
    count = count or (100 if quick else 6000)
    measured = measure(rounds, count, protocol, levers)
    lines = [
        f"Protocol {protocol}; {rounds} rounds of {count} calls per variant and condition; "
        f"the switch interval is {DEFAULT_SWITCH * 1000:g} ms unless a lever says otherwise.",
        "",
        *headline(measured),
        "",
        *budgets(measured),
        "",
        *(line for condition in reversed(HEADLINE) for line in (*causes(measured, condition), "")),
        *background_table(measured),
    ]
    if levers:
        lines += ["", *lever_table(measured)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few calls")
    parser.add_argument("--rounds", type=int, help="rounds over all conditions (default 5)")
    parser.add_argument("--calls", type=int, help="calls per variant and block (default 6000)")
    parser.add_argument("--protocol", choices=("http/protobuf", "grpc"), default="http/protobuf")
    parser.add_argument("--no-levers", action="store_true", help="the three conditions only")
    args = parser.parse_args()
    print(run(args.quick, args.rounds, args.calls, args.protocol, not args.no_levers))


if __name__ == "__main__":
    main()
