"""The calls every tracker benchmark makes, and the hand-written OpenTelemetry floor.

The workloads do nothing (``return 1``), so that what is timed is the instrumentation.
Each runner makes ``n`` calls with a given runtime current (``_sdk.use``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from time import perf_counter
from types import ModuleType, SimpleNamespace
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import NoOpTracerProvider, set_span_in_context

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.database import DB_DURATION, DatabaseTracker

from ._sdk import use

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


# What an OpenAI chat completion gives back, in the attributes track_llm reads: id, model,
# one choice with its finish reason, and the token usage.
OPENAI_ANSWER = SimpleNamespace(
    id="chatcmpl-1",
    model="gpt-4o-2024-08-06",
    choices=[SimpleNamespace(index=0, finish_reason="stop")],
    usage=SimpleNamespace(prompt_tokens=120, completion_tokens=40),
)


def openai_call() -> Any:
    return OPENAI_ANSWER


def db_tracker() -> DatabaseTracker:
    """The reference tracked call: a database query with three static attributes."""
    return apm.track_database("postgresql", operation="SELECT", collection="users")


def repeat(
    call: Callable[[], object], runtime: Any, module: ModuleType = _runtime
) -> Callable[[int], None]:
    def run(count: int) -> None:
        use(runtime, module)
        for _ in range(count):
            call()

    return run


def repeat_async(
    loop: asyncio.AbstractEventLoop,
    call: Callable[[], Any],
    runtime: Any,
    module: ModuleType = _runtime,
) -> Callable[[int], None]:
    async def many(count: int) -> None:
        for _ in range(count):
            await call()

    def run(count: int) -> None:
        use(runtime, module)
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


def inline_with_block() -> Callable[[], int]:
    """The ``with`` form as most code writes it: the reference tracker built each pass."""

    def call() -> int:
        with apm.track_database("postgresql", operation="SELECT", collection="users"):
            return work()

    return call


def async_with_block(tracker: Any) -> Callable[[], Any]:
    async def call() -> int:
        async with tracker:
            return await work_async()

    return call


# --- the hand-written floor ---------------------------------------------------------------


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
