"""Garbage per HTTP request: the bare app, the hand-written one-span middleware, ours.

Counted, not timed. One request at a time, called in process as an ASGI app (as in
``bench_asgi``), ended spans dropped:

- objects allocated per request, of the kinds the collector counts (``_gc_counter``);
- the collector's count when the response starts (objects the request holds while the
  application runs), and what one request leaves to it afterwards;
- cyclic garbage per request, which only a collection frees.

Then under uvicorn's protocol, in memory (``_h11_server``): 16 keep-alive connections,
young, middle and full collections per 1,000 requests, with ended spans dropped and
with them handed on in batches of 512 as the batch span processor does (on this thread,
so that a run of the same command collects at the same points every time). Context
copies that outlive a request, such as uvicorn's keep-alive timer, show here and not in
the requests made one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from autobot_apm._sdk.settings import resolve
from autobot_apm._sdk.setup import INSTRUMENTATION_SCOPE
from autobot_apm._tracking import runtime as _runtime

from ._app import NATIVE_OFF, OneSpanMiddleware, endpoint_app
from ._gc_counter import AllocationCounter, allocation_counter
from ._h11_server import serve
from ._sdk import use
from .bench_asgi import SCOPE

BARE = "uninstrumented (FastAPI telemetry off)"
FLOOR = "hand-written one-span middleware"
CONNECTIONS = 16
BATCH = 512  # the batch span processor's default batch


class HandOff(SpanProcessor):
    """Holds ended spans and lets them all go every ``batch`` spans, as the batch
    processor hands a batch to its exporter; on this thread, unlike it."""

    def __init__(self) -> None:
        self.batch = 1
        self._held: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self._held.append(span)
        if len(self._held) >= self.batch:
            self._held = []


@dataclass
class PerRequest:
    """One variant's garbage, per request made one at a time."""

    allocated: float | None  # None where the allocation counter is unavailable
    at_response_start: int
    left: float
    cyclic: float


def apps() -> dict[str, Any]:
    """The one-endpoint FastAPI app, bare, under the floor and under our middleware."""
    from autobot_apm.asgi import APMMiddleware, instrument_fastapi

    return {
        BARE: endpoint_app(NATIVE_OFF),
        FLOOR: OneSpanMiddleware(endpoint_app(NATIVE_OFF)),
        "autobot-apm instrument_fastapi": instrument_fastapi(endpoint_app()),
        "autobot-apm APMMiddleware(app)": APMMiddleware(endpoint_app()),
    }


@contextlib.contextmanager
def global_pipeline(hand_off: HandOff) -> Iterator[None]:
    """Global providers (FastAPI and the floor use them) and our runtime over them."""
    resource = Resource.create({"service.name": "bench-gc-requests"})
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(hand_off)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    use(
        _runtime.Runtime(
            tracer_provider.get_tracer(INSTRUMENTATION_SCOPE),
            meter_provider.get_meter(INSTRUMENTATION_SCOPE),
            resolve({}, environ={}),
        )
    )
    try:
        yield
    finally:
        use(None)
        tracer_provider.shutdown()
        meter_provider.shutdown()


def requester(app: Any, loop: asyncio.AbstractEventLoop, marks: list[int]) -> Callable[[int], None]:
    """``run(n)``: ``n`` requests, one at a time; ``marks`` gets the collector's count
    when each response starts."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            marks.append(gc.get_count()[0])

    async def many(count: int) -> None:
        for _ in range(count):
            await app(dict(SCOPE), receive, send)

    def run(count: int) -> None:
        marks.clear()
        loop.run_until_complete(many(count))

    return run


def per_request(
    app: Any, loop: asyncio.AbstractEventLoop, counter: AllocationCounter | None, count: int
) -> PerRequest:
    marks: list[int] = []
    run = requester(app, loop, marks)
    run(200)  # the first requests build the middleware's options and FastAPI's caches
    allocated = None
    if counter is not None:
        with counter.counting() as counted:
            run(count)
            allocated = counted() / count
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        run(1)
        at_response_start = marks[0] - before
        before = gc.get_count()[0]
        run(count)
        left = (gc.get_count()[0] - before) / count
        cyclic = gc.collect() / count
    finally:
        gc.enable()
    return PerRequest(allocated, at_response_start, left, cyclic)


def collections_in_server(
    app: Any, loop: asyncio.AbstractEventLoop, hand_off: HandOff, batch: int, requests: int
) -> list[float]:
    """Collections of each generation per 1,000 requests over 16 connections."""
    hand_off.batch = batch
    loop.run_until_complete(serve(app, CONNECTIONS, min(requests, 1000)))  # warm-up
    gc.collect()
    before = [generation["collections"] for generation in gc.get_stats()]
    loop.run_until_complete(serve(app, CONNECTIONS, requests))
    after = [generation["collections"] for generation in gc.get_stats()]
    return [(b - a) * 1000 / requests for a, b in zip(before, after, strict=True)]


def report(quick: bool) -> list[str]:
    """The section's tables, as Markdown lines."""
    count = 200 if quick else 2000
    requests = 512 if quick else 8192
    counter = allocation_counter()
    hand_off = HandOff()
    loop = asyncio.new_event_loop()
    try:
        with global_pipeline(hand_off):
            built = apps()
            one = {name: per_request(app, loop, counter, count) for name, app in built.items()}
            dropped = {
                name: collections_in_server(app, loop, hand_off, 1, requests)
                for name, app in built.items()
            }
            batched = {
                name: collections_in_server(app, loop, hand_off, BATCH, requests)
                for name, app in built.items()
            }
    finally:
        loop.close()
    return [
        *one_at_a_time_table(one, count),
        "",
        *server_table(dropped, batched, requests),
    ]


def one_at_a_time_table(rows: dict[str, PerRequest], count: int) -> list[str]:
    lines = [
        f"#### Per HTTP request, in process, one at a time ({count} requests, ended spans dropped)",
        "",
        "| variant | collected-kind objects allocated | held when the response starts "
        "| left per request | of which cyclic garbage |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        allocated = "-" if row.allocated is None else f"{row.allocated:.1f}"
        lines.append(
            f"| {name} | {allocated} | {row.at_response_start} | {row.left:.2f} "
            f"| {row.cyclic:.2f} |"
        )
    return lines


def server_table(
    dropped: dict[str, list[float]], batched: dict[str, list[float]], requests: int
) -> list[str]:
    lines = [
        f"#### Collections per 1,000 requests under uvicorn's protocol in memory "
        f"({CONNECTIONS} keep-alive connections, {requests} requests)",
        "",
        "| variant | spans dropped: gen 0 / 1 / 2 | spans handed on by 512: gen 0 / 1 / 2 |",
        "|---|---:|---:|",
    ]
    for name in dropped:
        lines.append(f"| {name} | {_generations(dropped[name])} | {_generations(batched[name])} |")
    return lines


def _generations(counts: list[float]) -> str:
    return " / ".join(f"{count:.2f}" for count in counts)
