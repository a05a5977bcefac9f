"""Garbage and retained memory per tracked call and per metric series, against the floor.

Counted, not timed, so the figures are the same on a loaded machine as on a quiet one:

1. Per call, after a warm-up, over N calls with the collector paused: objects the calls
   left alive (``gc.get_objects()`` growth after a collection), of those the cyclic
   garbage only the collector frees (what ``gc.collect()`` found), the bytes and
   allocator blocks they kept (``tracemalloc``, ``sys.getallocatedblocks()``) and the
   bytes one call has in flight at its peak. Twice: with ended spans dropped (what the
   call itself leaves), and with them queued as a batch processor queues them.
2. Collections per 10,000 calls, collector on with its default thresholds, spans going
   through the batch processor to a null exporter (the tracker benchmark's pipeline).
3. Per new metric series (a distinct attribute set): objects and bytes kept after one
   call, and after calls whose durations spread over every histogram bucket (a stepping
   fake clock), where each bucket's exemplar keeps the attributes of its latest record.
4. Per HTTP request through the middleware, beside the bare app and the hand-written
   one-span middleware: objects allocated, held and left, and collections under
   uvicorn's protocol on in-memory connections (``_gc_requests``).

Each tracker beside its own hand-written floor (``_floor``, ``_vocabulary_floors``).

    python -m benchmarks.bench_gc [--quick]
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import statistics
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import autobot_apm as apm
from autobot_apm._sdk.settings import resolve
from autobot_apm._sdk.setup import INSTRUMENTATION_SCOPE
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.database import DB_DURATION_BUCKETS
from autobot_apm.llm import track_llm
from autobot_apm.testing import FakeClock, fake_clock

from . import _floor, _vocabulary_floors
from ._floor import Floor, openai_call, work
from ._gc_requests import report as requests_report
from ._harness import quick_command_line
from ._sdk import NullSpanExporter, use
from ._vocabulary_floors import CacheFloor, LlmFloor

Call = Callable[[], object]
# name -> (the floor it is compared with, or None for a floor)
VARIANTS = {
    "hand-written floor (span + histogram)": None,
    "track_database": "hand-written floor (span + histogram)",
    "hand-written cache floor": None,
    "track_cache": "hand-written cache floor",
    "hand-written LLM floor": None,
    "track_llm (OpenAI-shaped result)": "hand-written LLM floor",
}


def make(name: str, runtime: _runtime.Runtime, index: int = 0) -> Call:
    """Variant ``name``'s call; ``index`` picks its attribute set (its metric series)."""
    if name.startswith("hand-written floor"):
        return Floor(runtime, series_tracker("track_database", index)).start_span
    if name == "hand-written cache floor":
        return CacheFloor(runtime, series_tracker("track_cache", index)).call
    if name == "hand-written LLM floor":
        return LlmFloor(runtime, series_tracker("track_llm", index)).call
    tracker = series_tracker(name.split()[0], index)
    return tracker(openai_call if name.startswith("track_llm") else work)  # type: ignore[no-any-return]


def series_tracker(kind: str, index: int) -> Any:
    """The tracker of series ``index``: one attribute differs from series to series."""
    if kind == "track_database":
        return apm.track_database("postgresql", operation="SELECT", collection=f"t{index}")
    if kind == "track_cache":
        return apm.track_cache(f"cache-{index}")
    return track_llm("openai", f"model-{index}")


# --- pipelines ---------------------------------------------------------------------------


@contextlib.contextmanager
def pipeline(processor: SpanProcessor | None) -> Iterator[_runtime.Runtime]:
    """A runtime over fresh providers: ``processor`` gets the ended spans (None: dropped)."""
    resource = Resource.create({"service.name": "bench-gc"})
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if processor is not None:
        tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
    )
    runtime = _runtime.Runtime(
        tracer_provider.get_tracer(INSTRUMENTATION_SCOPE),
        meter_provider.get_meter(INSTRUMENTATION_SCOPE),
        resolve({}, environ={}),
    )
    use(runtime)
    try:
        yield runtime
    finally:
        use(None)
        tracer_provider.shutdown()
        meter_provider.shutdown()


def queueing(capacity: int) -> BatchSpanProcessor:
    """A batch processor that only queues: its batch is larger than the run, its delay long."""
    return BatchSpanProcessor(
        NullSpanExporter(),
        max_queue_size=capacity,
        max_export_batch_size=capacity,
        schedule_delay_millis=3_600_000,
    )


# --- counting ------------------------------------------------------------------------------


@dataclass
class Kept:
    """What ``count`` calls (or new series) left behind, per call (or series)."""

    objects: float
    garbage: float
    blocks: float
    bytes: float


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def kept(calls: Iterator[Call] | list[Call], count: int) -> Kept:
    """Make the calls (collector paused), collect, and divide what stayed by ``count``."""
    with collector_paused():
        objects, blocks = len(gc.get_objects()), sys.getallocatedblocks()
        traced = tracemalloc.get_traced_memory()[0]
        for call in calls:
            call()
        garbage = gc.collect()
        return Kept(
            (len(gc.get_objects()) - objects) / count,
            garbage / count,
            (sys.getallocatedblocks() - blocks) / count,
            (tracemalloc.get_traced_memory()[0] - traced) / count,
        )


def peak_bytes(call: Call, samples: int) -> float:
    """Median over calls of the bytes one call has allocated at once, at its peak."""
    peaks = []
    for _ in range(samples):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        call()
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
    return statistics.median(peaks)


def per_call(name: str, count: int, queued: bool) -> tuple[Kept, float]:
    processor = queueing(4 * count) if queued else None
    with pipeline(processor) as runtime:
        call = make(name, runtime)
        for _ in range(min(count, 500)):
            call()
        if processor is not None:
            processor.force_flush()
        result = kept(itertools.repeat(call, count), count)
        return result, peak_bytes(call, 200)


def collections(name: str, count: int) -> list[float]:
    """Collections of each generation per 10,000 calls, collector on."""
    with pipeline(BatchSpanProcessor(NullSpanExporter())) as runtime:
        call = make(name, runtime)
        for _ in range(500):
            call()
        gc.collect()
        before = [generation["collections"] for generation in gc.get_stats()]
        for _ in range(count):
            call()
        after = [generation["collections"] for generation in gc.get_stats()]
    return [(b - a) * 10_000 / count for a, b in zip(before, after, strict=True)]


class SteppingClock(FakeClock):
    """Moves forward at every reading, by steps that cycle through every bucket."""

    def __init__(self) -> None:
        super().__init__()
        bounds = (0.0, *DB_DURATION_BUCKETS)
        # One step inside each bucket (and one past the last bound).
        steps = [(low + high) / 2 for low, high in itertools.pairwise(bounds)]
        self._steps = itertools.cycle([*steps, bounds[-1] * 2])

    def perf_counter(self) -> float:
        self.advance(next(self._steps))
        return super().perf_counter()


@contextlib.contextmanager
def spread_durations() -> Iterator[None]:
    """Durations over every bucket, for the library and the floors alike."""
    clock = SteppingClock()
    saved = [(module, module.perf_counter) for module in (_floor, _vocabulary_floors)]
    with fake_clock(clock):
        for module, _ in saved:
            module.perf_counter = clock.perf_counter  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for module, original in saved:
                module.perf_counter = original  # type: ignore[attr-defined]


def per_series(name: str, series: int, calls_each: int) -> Kept:
    """What each new series keeps, its calls made (its tracker or floor built beforehand)."""
    with pipeline(None) as runtime:
        make(name, runtime, -1)()  # the instruments exist before counting
        made = [make(name, runtime, index) for index in range(series)]
        if calls_each == 1:
            return kept(made, series)
        with spread_durations():
            return kept((call for call in made for _ in range(calls_each)), series)


# --- report ----------------------------------------------------------------------------------


def kept_table(
    title: str, rows: dict[str, Kept], extra: dict[str, float] | None = None
) -> list[str]:
    extra_head = " peak bytes in flight per call |" if extra else ""
    lines = [
        f"#### {title}",
        "",
        "| variant | objects kept | of which cyclic garbage | allocator blocks kept "
        f"| bytes kept | bytes kept x its floor |{extra_head}",
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if extra else ""),
    ]
    for name, result in rows.items():
        floor = VARIANTS[name]
        versus = ratio(result.bytes, rows[floor].bytes) if floor else "1.00"
        line = (
            f"| {name} | {result.objects:.2f} | {result.garbage:.2f} | {result.blocks:.2f} "
            f"| {result.bytes:.0f} | {versus} |"
        )
        if extra:
            line += f" {extra[name]:.0f} |"
        lines.append(line)
    return lines


def ratio(value: float, reference: float) -> str:
    if abs(reference) < 1:
        return "-"
    return f"{value / reference:.2f}"


def run(quick: bool) -> str:
    count = 200 if quick else 5000
    series = 20 if quick else 400
    tracemalloc.start()
    try:
        dropped = {name: per_call(name, count, queued=False) for name in VARIANTS}
        queued = {name: per_call(name, count, queued=True)[0] for name in VARIANTS}
        one = {name: per_series(name, series, 1) for name in VARIANTS}
        spread = {name: per_series(name, series, len(DB_DURATION_BUCKETS) + 1) for name in VARIANTS}
    finally:
        tracemalloc.stop()
    counted = {name: collections(name, 10 * count) for name in VARIANTS}
    lines = [
        f"{count} calls per variant; {series} new series per variant; counts, not times.",
        "",
        *kept_table(
            "Per call, ended spans dropped (what the call itself leaves)",
            {name: result for name, (result, _) in dropped.items()},
            {name: peak for name, (_, peak) in dropped.items()},
        ),
        "",
        *kept_table("Per call, ended spans queued (as the batch processor holds them)", queued),
        "",
        "#### Collections per 10,000 calls (default thresholds, batch processor to a null "
        "exporter)",
        "",
        "| variant | gen 0 | gen 1 | gen 2 |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {g0:.1f} | {g1:.1f} | {g2:.2f} |" for name, (g0, g1, g2) in counted.items()),
        "",
        *kept_table("Per new metric series, one call each", one),
        "",
        *kept_table(
            f"Per new metric series, {len(DB_DURATION_BUCKETS) + 1} calls each over every "
            "duration bucket",
            spread,
        ),
        "",
        *requests_report(quick),  # last: it installs global providers
    ]
    return "\n".join(lines)


def main() -> None:
    quick_command_line(__doc__, run, "smoke mode: fewer calls")


if __name__ == "__main__":
    main()
