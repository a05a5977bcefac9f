"""Cost per streamed chunk of ``track_llm``, against a hand-written streaming span.

A stream is timed twice in every round, with 1 chunk and with ``CHUNKS`` chunks; the
difference divided by ``CHUNKS - 1`` is the cost of one more chunk, free of the call's
fixed cost (span start and end, the metric records). Both forms of a tracked stream are
measured: a decorated generator function, and a decorated function that returns a
stream object (what SDK clients return), which the library hands back in a proxy.

    python -m benchmarks.bench_llm [--quick]
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, set_span_in_context

from autobot_apm._tracking import runtime as _runtime

from ._harness import Result, Settings, Variant, command_line, measure
from ._sdk import Pipeline, pipeline, use

CHUNKS = 64
SECONDS_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24)


def chunks(count: int) -> Iterator[str]:
    for _ in range(count):
        yield "token"


class Stream:
    """Stands in for an SDK's stream object: an iterator that is not a generator."""

    def __init__(self, count: int) -> None:
        self._left = count

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        if self._left <= 0:
            raise StopIteration
        self._left -= 1
        return "token"


def tracker() -> Any:
    # From its module: the package's top level may not export it yet.
    from autobot_apm.llm import track_llm

    return track_llm(provider="openai", model="gpt-4o", operation="chat")


class HandWritten:
    """A careful hand-written streaming span: context attached only while the producer
    runs, time to first chunk and duration recorded when the stream ends."""

    def __init__(self, runtime: _runtime.Runtime) -> None:
        self.tracer = runtime.tracer
        self.duration = runtime.meter.create_histogram(
            "bench.floor.llm.duration",
            unit="s",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self.first_chunk = runtime.meter.create_histogram(
            "bench.floor.llm.time_to_first_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )
        self.attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
        }

    def stream(self, count: int) -> Iterator[str]:
        span = self.tracer.start_span(
            "chat gpt-4o", kind=SpanKind.CLIENT, attributes=self.attributes
        )
        started = perf_counter()
        first: float | None = None
        inner = chunks(count)
        try:
            while True:
                token = otel_context.attach(set_span_in_context(span))
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    otel_context.detach(token)
                if first is None:
                    first = perf_counter() - started
                yield item
        finally:
            if first is not None:
                self.first_chunk.record(first, self.attributes)
            self.duration.record(perf_counter() - started, self.attributes)
            span.end()


def streams(sdk: Pipeline) -> dict[str, Callable[[int], Iterator[str]]]:
    """Each way of producing a stream of ``count`` chunks, by name."""
    return {
        "bare generator": chunks,
        "hand-written streaming span": HandWritten(sdk.runtime).stream,
        "track_llm on a generator function": tracker()(chunks),
        "track_llm on a function returning a stream": tracker()(Stream),
    }


def consume(
    make: Callable[[int], Iterator[str]], count: int, runtime: Any
) -> Callable[[int], None]:
    def run(calls: int) -> None:
        use(runtime)
        for _ in range(calls):
            for _ in make(count):
                pass

    return run


def per_chunk(results: list[Result], name: str) -> list[float]:
    """Per round: (time with CHUNKS chunks - time with 1 chunk) / (CHUNKS - 1)."""
    found = {r.name: r for r in results}
    many, one = found[f"{name} x{CHUNKS}"], found[f"{name} x1"]
    pairs = zip(many.per_call_us, one.per_call_us, strict=True)
    return [(m - o) / (CHUNKS - 1) for m, o in pairs]


def run(quick: bool, clock: str = "cpu") -> str:
    settings = Settings.for_mode(quick, clock)
    sdk = pipeline()
    try:
        makers = streams(sdk)
        variants = [
            Variant(f"{name} x{count}", consume(make, count, sdk.runtime))
            for name, make in makers.items()
            for count in (1, CHUNKS)
        ]
        results = measure(variants, f"hand-written streaming span x{CHUNKS}", settings)
    finally:
        use(None)
        sdk.close()
    return report(results, list(makers))


def report(results: list[Result], names: list[str]) -> str:
    bare = per_chunk(results, "bare generator")
    floor = per_chunk(results, "hand-written streaming span")
    lines = [
        f"#### Streaming: cost per chunk ({CHUNKS}-chunk minus 1-chunk streams, same rounds)",
        "",
        "| stream | µs per call, 1 chunk | µs per extra chunk | µs per chunk over bare "
        "| per-chunk overhead x hand-written |",
        "|---|---:|---:|---:|---:|",
    ]
    floor_overhead = [f - b for f, b in zip(floor, bare, strict=True)]
    found = {r.name: r for r in results}
    for name in names:
        chunk = per_chunk(results, name)
        overhead = [c - b for c, b in zip(chunk, bare, strict=True)]
        ratio = (
            statistics.median(o / f for o, f in zip(overhead, floor_overhead, strict=True) if f > 0)
            if any(f > 0 for f in floor_overhead)
            else float("nan")
        )
        lines.append(
            f"| {name} | {found[f'{name} x1'].median_us:.2f} | {statistics.median(chunk):.2f} "
            f"| {statistics.median(overhead):.2f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    command_line(__doc__ or "", run)


if __name__ == "__main__":
    main()
