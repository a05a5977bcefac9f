"""Unbounded input, bounded telemetry: distinct table names, model names and raw paths.

Each metric stream keeps at most the SDK's cardinality limit of attribute sets (2,000 by
default); every later set is folded into one overflow point marked
``otel.metric.overflow``, so no measurement is lost and memory stays flat. Raw request
paths never become metric attributes at all: the middleware labels requests by route
template only.

Counts: 100,000 distinct table names; 20,000 model names, routes and raw paths. Every
count past 2,000 goes through the same overflow path, and 100,000 of each would add
about 20 s to the suite.
"""

import asyncio
import gc
import tracemalloc

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import autobot_apm as apm
from autobot_apm._sdk.settings import resolve
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.asgi import APMMiddleware
from autobot_apm.llm import track_llm

SDK_CARDINALITY_LIMIT = 2_000
OVERFLOW = {"otel.metric.overflow": True}
TABLES = 100_000
OTHERS = 20_000
MEMORY_WINDOW = 1_000  # calls traced by tracemalloc after the run, twice (tracing is slow)
# A leaked name costs at least its string (about 50 bytes for "table_123456"); the
# steady state measured about 0.3 bytes a call.
MAX_BYTES_PER_CALL = 16


@pytest.fixture
def reader():
    """A live runtime reading metrics in memory; spans are not sampled (not the point)."""
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    runtime = _runtime.Runtime(
        tracer_provider.get_tracer("autobot_apm"),
        meter_provider.get_meter("autobot_apm"),
        resolve({}, environ={}),
    )
    previous = _runtime.install(runtime)
    try:
        yield reader
    finally:
        _runtime.install(previous)
        meter_provider.shutdown()
        tracer_provider.shutdown()


def _points(reader, name):
    data = reader.get_metrics_data()
    return [
        point
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def _assert_bounded(reader, name, measurements):
    """At most limit + 1 series, one of them the overflow, and no measurement lost."""
    points = _points(reader, name)
    assert len(points) <= SDK_CARDINALITY_LIMIT + 1
    assert 1 == sum(1 for point in points if dict(point.attributes) == OVERFLOW)
    assert measurements == sum(point.count for point in points)


def _bytes_kept_per_call(call, start):
    """Bytes still allocated after ``MEMORY_WINDOW`` more distinct calls, per call.

    A first traced window fills the bounded caches (the trackers kept by their
    arguments, the SQL caches) with traced entries: their evictions free memory that
    was allocated before tracing began, which tracemalloc cannot subtract, so a full
    bounded cache would otherwise read as growth. The second window is the measure.
    """
    gc.collect()
    tracemalloc.start()
    try:
        for n in range(start, start + MEMORY_WINDOW):
            call(n)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(start + MEMORY_WINDOW, start + 2 * MEMORY_WINDOW):
            call(n)
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / MEMORY_WINDOW
    finally:
        tracemalloc.stop()


def _query_table(n):
    with apm.track_database("postgresql", operation="SELECT", collection=f"table_{n}"):
        pass


def _ask_model(n):
    with track_llm(provider="openai", model=f"model-{n}") as op:
        op.usage(input_tokens=3, output_tokens=5)


def _serve_raw_route(n):
    with apm.track_api(route=f"/users/{n}", method="GET"):
        pass


class TestDistinctNames:
    def test_table_names(self, reader):
        """100,000 table names: at most 2,001 duration series, memory flat."""
        for n in range(TABLES):
            _query_table(n)
        assert _bytes_kept_per_call(_query_table, TABLES) < MAX_BYTES_PER_CALL
        _assert_bounded(reader, "db.client.operation.duration", TABLES + 2 * MEMORY_WINDOW)

    def test_model_names(self, reader):
        """20,000 model names: duration and token usage stay within the limit, memory flat."""
        for n in range(OTHERS):
            _ask_model(n)
        assert _bytes_kept_per_call(_ask_model, OTHERS) < MAX_BYTES_PER_CALL
        calls = OTHERS + 2 * MEMORY_WINDOW
        _assert_bounded(reader, "gen_ai.client.operation.duration", calls)
        _assert_bounded(reader, "gen_ai.client.token.usage", 2 * calls)  # input, output

    def test_raw_values_given_as_routes(self, reader):
        """20,000 raw paths passed to track_api(route=...): still at most 2,001 series."""
        for n in range(OTHERS):
            _serve_raw_route(n)
        assert _bytes_kept_per_call(_serve_raw_route, OTHERS) < MAX_BYTES_PER_CALL
        _assert_bounded(reader, "http.server.request.duration", OTHERS + 2 * MEMORY_WINDOW)


async def _not_found(scope, receive, send):
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _requests(paths):
    middleware = APMMiddleware(_not_found)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    for path in paths:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": [(b"host", b"app")],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        await middleware(scope, receive, send)


class TestRawPaths:
    def test_raw_paths_through_the_middleware_make_one_series(self, reader):
        """20,000 unmatched raw paths: one series, without http.route or the path."""
        asyncio.run(_requests(f"/files/{n}/download" for n in range(OTHERS)))
        (point,) = _points(reader, "http.server.request.duration")
        assert OTHERS == point.count
        assert "http.route" not in point.attributes
        assert not any("/files/" in str(value) for value in point.attributes.values())
