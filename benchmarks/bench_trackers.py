"""Cost of one tracked call against hand-written OpenTelemetry, in the same process.

The floor is what a careful engineer would write by hand for "a span and a duration
histogram": ``tracer.start_span`` + ``context.attach(set_span_in_context(span))`` +
``histogram.record(duration, attributes)`` + ``span.end()`` + ``detach``, with the same
name, kind and attributes as the tracker, on the same tracer and the same histogram.
Every ratio below is against that floor, timed in the same rounds.

    python -m benchmarks.bench_trackers [--quick] [--no-peers]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import NoOpTracerProvider, set_span_in_context

import autobot_apm as apm
from autobot_apm import _runtime
from autobot_apm.database import DB_DURATION, DatabaseTracker

from . import _peers
from ._harness import CLOCKS, Settings, Variant, measure, paired_ratio, table, verdict
from ._sdk import Pipeline, pipeline, use

FLOOR = "hand-written: start_span + attach + histogram"
GENERATOR_ITEMS = 3


def work() -> int:
    return 1


async def work_async() -> int:
    return 1


def items() -> Iterator[int]:
    yield from range(GENERATOR_ITEMS)


async def items_async() -> AsyncIterator[int]:
    for item in range(GENERATOR_ITEMS):
        yield item


def db_tracker() -> DatabaseTracker:
    """The reference tracked call: a database query with three static attributes."""
    return apm.track_database("postgresql", operation="SELECT", collection="users")


# --- runners: each makes ``n`` calls with the given runtime current -------------------


def repeat(call: Callable[[], object], runtime: _runtime.Runtime | None) -> Callable[[int], None]:
    def run(count: int) -> None:
        use(runtime)
        for _ in range(count):
            call()

    return run


def repeat_async(
    loop: asyncio.AbstractEventLoop,
    call: Callable[[], Any],
    runtime: _runtime.Runtime | None,
) -> Callable[[int], None]:
    async def many(count: int) -> None:
        for _ in range(count):
            await call()

    def run(count: int) -> None:
        use(runtime)
        loop.run_until_complete(many(count))

    return run


def consume(generator_function: Callable[[], Iterator[int]]) -> Callable[[], None]:
    def call() -> None:
        for _ in generator_function():
            pass

    return call


def consume_async(generator_function: Callable[[], AsyncIterator[int]]) -> Callable[[], Any]:
    async def call() -> None:
        async for _ in generator_function():
            pass

    return call


def with_block(tracker: Any) -> Callable[[], int]:
    def call() -> int:
        with tracker:
            return work()

    return call


def async_with_block(tracker: Any) -> Callable[[], Any]:
    async def call() -> int:
        async with tracker:
            return await work_async()

    return call


# --- the hand-written floor --------------------------------------------------------------


class Floor:
    """Hand-written OpenTelemetry for the same span and metric as ``tracker``."""

    def __init__(self, runtime: _runtime.Runtime, tracker: DatabaseTracker) -> None:
        self.tracer = runtime.tracer
        self.histogram = runtime.histogram(DB_DURATION)
        self.name = tracker.span_name
        self.kind = tracker.span_kind
        self.span_attributes = tracker.span_attributes
        self.metric_attributes = tracker.metric_attributes

    def start_span(self) -> int:
        span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.span_attributes)
        token = otel_context.attach(set_span_in_context(span))
        started = perf_counter()
        try:
            return work()
        finally:
            self.histogram.record(perf_counter() - started, self.metric_attributes)
            span.end()
            otel_context.detach(token)

    def current_span(self) -> int:
        with self.tracer.start_as_current_span(
            self.name, kind=self.kind, attributes=self.span_attributes
        ):
            started = perf_counter()
            result = work()
            self.histogram.record(perf_counter() - started, self.metric_attributes)
            return result

    def span_only(self) -> int:
        with self.tracer.start_as_current_span(
            self.name, kind=self.kind, attributes=self.span_attributes
        ):
            return work()

    async def start_span_async(self) -> int:
        span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.span_attributes)
        token = otel_context.attach(set_span_in_context(span))
        started = perf_counter()
        try:
            return await work_async()
        finally:
            self.histogram.record(perf_counter() - started, self.metric_attributes)
            span.end()
            otel_context.detach(token)

    def generator(self) -> Iterator[int]:
        # The context is attached only while the inner generator runs, as it must be.
        span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.span_attributes)
        started = perf_counter()
        inner = items()
        try:
            while True:
                token = otel_context.attach(set_span_in_context(span))
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    otel_context.detach(token)
                yield item
        finally:
            self.histogram.record(perf_counter() - started, self.metric_attributes)
            span.end()


def api_no_sdk() -> Callable[[], int]:
    """The OpenTelemetry API with no SDK: what a library pays before anyone configures."""
    tracer = NoOpTracerProvider().get_tracer("bench")

    def call() -> int:
        with tracer.start_as_current_span("work"):
            return work()

    return call


def disabled_runtime() -> _runtime.Runtime | None:
    """The runtime configure() leaves behind under OTEL_SDK_DISABLED=true (expected: none)."""
    os.environ["OTEL_SDK_DISABLED"] = "true"
    try:
        apm.configure(service_name="bench", exporter="none")
        return _runtime.current
    finally:
        apm.shutdown()
        del os.environ["OTEL_SDK_DISABLED"]


# --- the tables --------------------------------------------------------------------------


def sync_variants(sdk: Pipeline, peers: bool) -> list[Variant]:
    runtime = sdk.runtime
    floor = Floor(runtime, db_tracker())
    variants = [
        Variant("bare call", repeat(work, runtime)),
        Variant("OTel API, no SDK (start_as_current_span)", repeat(api_no_sdk(), runtime)),
        Variant("OTel SDK span only (start_as_current_span)", repeat(floor.span_only, runtime)),
        Variant(FLOOR, repeat(floor.start_span, runtime)),
        Variant("hand-written: start_as_current_span + histogram",
                repeat(floor.current_span, runtime)),  # fmt: skip
        Variant("track_database, decorator", repeat(db_tracker()(work), runtime)),
        Variant("track_database, with", repeat(with_block(db_tracker()), runtime)),
        Variant("track_api, decorator",
                repeat(apm.track_api(route="/items/{id}")(work), runtime)),  # fmt: skip
        Variant("track_cache, decorator (counter + histogram)",
                repeat(apm.track_cache("sessions")(work), runtime)),  # fmt: skip
    ]
    if peers:
        for name, decorator in (("logfire @instrument (span only)", _peers.logfire_instrument()),
                                ("ddtrace @tracer.wrap (span only)", _peers.ddtrace_wrap())):  # fmt: skip
            if decorator is not None:
                variants.append(Variant(name, repeat(decorator(work), runtime)))
    return variants


def kind_variants(sdk: Pipeline, loop: asyncio.AbstractEventLoop) -> list[Variant]:
    runtime = sdk.runtime
    floor = Floor(runtime, db_tracker())
    tracked_items = db_tracker()(items)
    tracked_items_async = db_tracker()(items_async)
    return [
        Variant(FLOOR, repeat(floor.start_span, runtime)),
        Variant("coroutine: bare await", repeat_async(loop, work_async, runtime)),
        Variant("coroutine: hand-written floor",
                repeat_async(loop, floor.start_span_async, runtime)),  # fmt: skip
        Variant("coroutine: decorator", repeat_async(loop, db_tracker()(work_async), runtime)),
        Variant("coroutine: async with",
                repeat_async(loop, async_with_block(db_tracker()), runtime)),  # fmt: skip
        Variant(f"generator ({GENERATOR_ITEMS} items): bare", repeat(consume(items), runtime)),
        Variant(f"generator ({GENERATOR_ITEMS} items): hand-written floor",
                repeat(consume(floor.generator), runtime)),  # fmt: skip
        Variant(f"generator ({GENERATOR_ITEMS} items): decorator",
                repeat(consume(tracked_items), runtime)),  # fmt: skip
        Variant(f"async generator ({GENERATOR_ITEMS} items): bare",
                repeat_async(loop, consume_async(items_async), runtime)),  # fmt: skip
        Variant(f"async generator ({GENERATOR_ITEMS} items): decorator",
                repeat_async(loop, consume_async(tracked_items_async), runtime)),  # fmt: skip
    ]


def off_variants(loop: asyncio.AbstractEventLoop) -> list[Variant]:
    disabled = disabled_runtime()
    return [
        Variant("bare call", repeat(work, None)),
        Variant("OTel API, no SDK (start_as_current_span)", repeat(api_no_sdk(), None)),
        Variant("unconfigured: decorator", repeat(db_tracker()(work), None)),
        Variant("unconfigured: with", repeat(with_block(db_tracker()), None)),
        Variant("unconfigured: coroutine decorator",
                repeat_async(loop, db_tracker()(work_async), None)),  # fmt: skip
        Variant("coroutine: bare await", repeat_async(loop, work_async, None)),
        Variant("OTEL_SDK_DISABLED=true: decorator", repeat(db_tracker()(work), disabled)),
    ]


def sampled_out_variants(sdk: Pipeline, dropped: Pipeline) -> list[Variant]:
    floor = Floor(dropped.runtime, db_tracker())
    return [
        Variant("sampled out: hand-written floor", repeat(floor.start_span, dropped.runtime)),
        Variant("sampled out: decorator", repeat(db_tracker()(work), dropped.runtime)),
        Variant("sampled out: with", repeat(with_block(db_tracker()), dropped.runtime)),
        Variant("sampled in: decorator (for scale)", repeat(db_tracker()(work), sdk.runtime)),
    ]


def run(quick: bool, peers: bool = True, clock: str = "wall") -> str:
    """Measure every table and return the report (Markdown)."""
    settings = Settings.for_mode(quick, clock)
    sdk, dropped = pipeline(), pipeline(sampled=False)
    loop = asyncio.new_event_loop()
    try:
        sections = [
            tracked_calls(sdk, peers, settings),
            call_kinds(sdk, loop, settings),
            off_paths(loop, settings),
            sampled_out(sdk, dropped, settings),
        ]
    finally:
        use(None)
        loop.close()
        sdk.close()
        dropped.close()
    return "\n\n".join(sections)


def tracked_calls(sdk: Pipeline, peers: bool, settings: Settings) -> str:
    results = measure(sync_variants(sdk, peers), FLOOR, settings)
    lines = [table("Tracked call, sync (ratios to the hand-written floor)", results, FLOOR,
                   added_over="bare call"), ""]  # fmt: skip
    ours = next(r for r in results if r.name == "track_database, decorator")
    lines.append(verdict("tracked call vs hand-written floor", ours.ratio, 1.0))
    names = {r.name for r in results}
    if "logfire @instrument (span only)" in names:
        versus = paired_ratio(results, "track_database, decorator", "logfire @instrument (span only)")
        lines.append(verdict("tracked call vs logfire @instrument", versus.ratio, 0.5))
    if "ddtrace @tracer.wrap (span only)" in names:
        versus = paired_ratio(results, "track_database, decorator", "ddtrace @tracer.wrap (span only)")
        lines.append(f"- tracked call vs ddtrace @tracer.wrap: {versus.ratio:.2f}×")
    return "\n".join(lines)


def call_kinds(sdk: Pipeline, loop: asyncio.AbstractEventLoop, settings: Settings) -> str:
    results = measure(kind_variants(sdk, loop), FLOOR, settings)
    return table("Coroutines and generators (ratios to the sync floor)", results, FLOOR)


def off_paths(loop: asyncio.AbstractEventLoop, settings: Settings) -> str:
    baseline = "OTel API, no SDK (start_as_current_span)"
    results = measure(off_variants(loop), baseline, settings)
    found = {r.name: r for r in results}
    lines = [table("Telemetry off (ratios to the OTel API's no-SDK span)", results, baseline,
                   added_over="bare call"), ""]  # fmt: skip
    lines.append(verdict("unconfigured decorator vs OTel API no-SDK span",
                         found["unconfigured: decorator"].ratio, 0.2))  # fmt: skip
    lines.append(verdict("unconfigured decorator, µs per call",
                         found["unconfigured: decorator"].median_us, 1.0, " µs"))  # fmt: skip
    return "\n".join(lines)


def sampled_out(sdk: Pipeline, dropped: Pipeline, settings: Settings) -> str:
    baseline = "sampled out: hand-written floor"
    results = measure(sampled_out_variants(sdk, dropped), baseline, settings)
    return table("Sampled out (the trace is dropped; the metric is still recorded)",
                 results, baseline)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few short rounds")
    parser.add_argument("--no-peers", action="store_true", help="skip logfire and ddtrace")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: perf_counter; cpu: this thread's CPU time")  # fmt: skip
    args = parser.parse_args()
    print(run(args.quick, peers=not args.no_peers, clock=args.clock))


if __name__ == "__main__":
    main()
