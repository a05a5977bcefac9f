"""Cost of one tracked call against hand-written OpenTelemetry, in the same process.

The floor is what a careful engineer would write by hand for "a span and a duration
histogram": ``tracer.start_span`` + ``context.attach(set_span_in_context(span))`` +
``histogram.record(duration, attributes)`` + ``span.end()`` + ``detach``, with the same
name, kind and attributes as the tracker, on the same tracer and the same histogram.
Every ratio below is against that floor, timed in the same rounds.

    python -m benchmarks.bench_trackers [--quick] [--no-peers] [--clock wall]
    python -m benchmarks.bench_trackers --compare /tmp/patched/src   # A/B two copies
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
from pathlib import Path

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.llm import track_llm

from . import _peers
from ._compare import compare
from ._floor import (
    FLOOR,
    GENERATOR_ITEMS,
    Floor,
    api_no_sdk,
    async_with_block,
    consume,
    consume_async,
    db_tracker,
    inline_with_block,
    items,
    items_async,
    openai_call,
    repeat,
    repeat_async,
    with_block,
    work,
    work_async,
)
from ._harness import CLOCKS, Settings, Variant, measure, paired_ratio, table, verdict
from ._sdk import Pipeline, load_candidate, pipeline, use
from ._vocabulary_floors import CacheFloor, LlmFloor


def disabled_runtime() -> _runtime.Runtime | None:
    """The runtime configure() leaves behind under OTEL_SDK_DISABLED=true (expected: none)."""
    os.environ["OTEL_SDK_DISABLED"] = "true"
    try:
        apm.configure(service_name="bench", exporter="none")
        return _runtime.current
    finally:
        apm.shutdown()
        del os.environ["OTEL_SDK_DISABLED"]


DATABASE = "track_database, decorator"
CACHE = "track_cache, decorator (counter + histogram)"
LLM = "track_llm, decorator (OpenAI-shaped result)"
CACHE_FLOOR = "hand-written cache: span + counter + histogram"
LLM_FLOOR = "hand-written LLM call: span + response attributes + 3 histograms"


# --- the tables --------------------------------------------------------------------------


def sync_variants(sdk: Pipeline, peers: bool) -> list[Variant]:
    runtime = sdk.runtime
    floor = Floor(runtime, db_tracker())
    cache, llm = apm.track_cache("sessions"), track_llm("openai", "gpt-4o")
    variants = [
        Variant("bare call", repeat(work, runtime)),
        Variant("OTel API, no SDK (start_as_current_span)", repeat(api_no_sdk(), runtime)),
        Variant("OTel SDK span only (start_as_current_span)", repeat(floor.span_only, runtime)),
        Variant(FLOOR, repeat(floor.start_span, runtime)),
        Variant(
            "hand-written: start_as_current_span + histogram", repeat(floor.current_span, runtime)
        ),
        Variant(DATABASE, repeat(db_tracker()(work), runtime)),
        Variant("track_database, with", repeat(with_block(db_tracker()), runtime)),
        Variant("track_database, with, built each pass", repeat(inline_with_block(), runtime)),
        Variant(
            "track_api, decorator",
            repeat(apm.track_api(route="/items/{id}", method="GET")(work), runtime),
        ),
        Variant(CACHE, repeat(cache(work), runtime)),
        Variant(CACHE_FLOOR, repeat(CacheFloor(runtime, cache).call, runtime)),
        Variant(LLM, repeat(llm(openai_call), runtime)),
        Variant(LLM_FLOOR, repeat(LlmFloor(runtime, llm).call, runtime)),
    ]
    if peers:
        for name, decorator in (
            ("logfire @instrument (span only)", _peers.logfire_instrument()),
            ("ddtrace @tracer.wrap (span only)", _peers.ddtrace_wrap()),
        ):
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
        Variant(
            "coroutine: hand-written floor", repeat_async(loop, floor.start_span_async, runtime)
        ),
        Variant("coroutine: decorator", repeat_async(loop, db_tracker()(work_async), runtime)),
        Variant(
            "coroutine: async with", repeat_async(loop, async_with_block(db_tracker()), runtime)
        ),
        Variant(f"generator ({GENERATOR_ITEMS} items): bare", repeat(consume(items), runtime)),
        Variant(
            f"generator ({GENERATOR_ITEMS} items): hand-written floor",
            repeat(consume(floor.generator), runtime),
        ),
        Variant(
            f"generator ({GENERATOR_ITEMS} items): decorator",
            repeat(consume(tracked_items), runtime),
        ),
        Variant(
            f"async generator ({GENERATOR_ITEMS} items): bare",
            repeat_async(loop, consume_async(items_async), runtime),
        ),
        Variant(
            f"async generator ({GENERATOR_ITEMS} items): decorator",
            repeat_async(loop, consume_async(tracked_items_async), runtime),
        ),
    ]


def off_variants(loop: asyncio.AbstractEventLoop) -> list[Variant]:
    disabled = disabled_runtime()
    return [
        Variant("bare call", repeat(work, None)),
        Variant("OTel API, no SDK (start_as_current_span)", repeat(api_no_sdk(), None)),
        Variant("unconfigured: decorator", repeat(db_tracker()(work), None)),
        Variant("unconfigured: with", repeat(with_block(db_tracker()), None)),
        Variant("unconfigured: with, built each pass", repeat(inline_with_block(), None)),
        Variant(
            "unconfigured: coroutine decorator", repeat_async(loop, db_tracker()(work_async), None)
        ),
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


def run(
    quick: bool,
    peers: bool = True,
    clock: str = "cpu",
    candidate: Path | None = None,
    rounds: int | None = None,
) -> str:
    """Measure every table and return the report (Markdown)."""
    settings = Settings.for_mode(quick, clock)
    if rounds:
        settings = dataclasses.replace(settings, rounds=rounds)
    sdk, dropped = pipeline(), pipeline(sampled=False)
    loop = asyncio.new_event_loop()
    try:
        if candidate is not None:
            return compare(sdk, loop, load_candidate(candidate), settings)
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
    lines = [
        table(
            "Tracked call, sync (ratios to the hand-written floor)",
            results,
            FLOOR,
            added_over="bare call",
        ),
        "",
    ]
    ours = next(r for r in results if r.name == DATABASE)
    lines.append(verdict("tracked call vs hand-written floor", ours.ratio, 1.0))
    for name, label, own_floor in (
        (CACHE, "track_cache", CACHE_FLOOR),
        (LLM, "track_llm", LLM_FLOOR),
    ):
        versus = paired_ratio(results, name, DATABASE)
        low, high = versus.ratio_spread
        lines.append(
            verdict(f"{label} vs track_database", versus.ratio, 1.1)
            + f" (IQR {low:.2f}-{high:.2f})"
        )
        versus = paired_ratio(results, name, own_floor)
        low, high = versus.ratio_spread
        lines.append(
            f"- {label} vs its own hand-written floor ({own_floor}): "
            f"{versus.ratio:.2f}x (IQR {low:.2f}-{high:.2f})"
        )
    names = {r.name for r in results}
    if "logfire @instrument (span only)" in names:
        versus = paired_ratio(results, DATABASE, "logfire @instrument (span only)")
        lines.append(verdict("tracked call vs logfire @instrument", versus.ratio, 0.5))
    if "ddtrace @tracer.wrap (span only)" in names:
        versus = paired_ratio(results, DATABASE, "ddtrace @tracer.wrap (span only)")
        lines.append(f"- tracked call vs ddtrace @tracer.wrap: {versus.ratio:.2f}x")
    return "\n".join(lines)


def call_kinds(sdk: Pipeline, loop: asyncio.AbstractEventLoop, settings: Settings) -> str:
    results = measure(kind_variants(sdk, loop), FLOOR, settings)
    return table("Coroutines and generators (ratios to the sync floor)", results, FLOOR)


def off_paths(loop: asyncio.AbstractEventLoop, settings: Settings) -> str:
    baseline = "OTel API, no SDK (start_as_current_span)"
    results = measure(off_variants(loop), baseline, settings)
    found = {r.name: r for r in results}
    lines = [
        table(
            "Telemetry off (ratios to the OTel API's no-SDK span)",
            results,
            baseline,
            added_over="bare call",
        ),
        "",
    ]
    lines.append(
        verdict(
            "unconfigured decorator vs OTel API no-SDK span",
            found["unconfigured: decorator"].ratio,
            0.2,
        )
    )
    lines.append(
        verdict(
            "unconfigured decorator, µs per call",
            found["unconfigured: decorator"].median_us,
            1.0,
            " µs",
        )
    )
    return "\n".join(lines)


def sampled_out(sdk: Pipeline, dropped: Pipeline, settings: Settings) -> str:
    baseline = "sampled out: hand-written floor"
    results = measure(sampled_out_variants(sdk, dropped), baseline, settings)
    return table(
        "Sampled out (the trace is dropped; the metric is still recorded)", results, baseline
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few short rounds")
    parser.add_argument("--no-peers", action="store_true", help="skip logfire and ddtrace")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="wall: perf_counter; cpu: this thread's CPU time",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="SRC",
        help="time a copy of the package under SRC (a src folder) against "
        "the installed one, call for call",
    )
    parser.add_argument("--rounds", type=int, help="rounds per table (default: 61, quick: 3)")
    args = parser.parse_args()
    print(run(args.quick, not args.no_peers, args.clock, args.compare, args.rounds))


if __name__ == "__main__":
    main()
