"""Capture autobot-apm telemetry in memory, for your own tests.

Installed as a pytest plugin with the package, so the ``apm_capture`` fixture is simply
there::

    def test_checkout_records_a_query(apm_capture):
        checkout(cart_id=7)
        span = apm_capture.span("SELECT carts")
        assert "postgresql" == span.attributes["db.system.name"]
        assert 1 == apm_capture.histogram_count(
            "db.client.operation.duration", {"db.system.name": "postgresql"}
        )

Outside pytest, ``with capture_telemetry() as capture:`` does the same. Capturing never
touches the global OpenTelemetry providers, and restores whatever was configured before.

The ``apm_clock`` fixture (``with fake_clock() as clock:`` outside pytest) stops time for
the test: tracked calls measure their durations, and spans take their timestamps, from a
clock that moves only when ``clock.advance(seconds)`` is called, so durations are exact::

    def test_checkout_duration(apm_capture, apm_clock):
        with track_operation("checkout"):
            apm_clock.advance(0.25)
        span = apm_capture.span("checkout")
        assert 250_000_000 == span.end_time - span.start_time
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._sdk.settings import resolve
from ._sdk.setup import INSTRUMENTATION_SCOPE
from ._tracking import runtime as _runtime

__all__ = ["Capture", "FakeClock", "capture_telemetry", "fake_clock"]


class Capture:
    """Spans and metrics recorded while the capture is active, with finders."""

    def __init__(self, **settings: Any) -> None:
        resource = Resource.create({"service.name": settings.pop("service_name", "test")})
        self._exporter = InMemorySpanExporter()
        self._reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self._exporter))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self._reader])
        self.runtime = _runtime.Runtime(
            self.tracer_provider.get_tracer(INSTRUMENTATION_SCOPE),
            self.meter_provider.get_meter(INSTRUMENTATION_SCOPE),
            resolve(settings, environ={}),  # tests see defaults, not the shell's OTEL_*
        )

    # --- spans ---

    @property
    def spans(self) -> list[ReadableSpan]:
        """Finished spans, in the order they ended."""
        return list(self._exporter.get_finished_spans())

    def spans_named(self, name: str) -> list[ReadableSpan]:
        """Finished spans with this name."""
        return [span for span in self.spans if span.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span with this name; AssertionError if there are 0 or 2+."""
        found = self.spans_named(name)
        if len(found) != 1:
            seen = sorted({span.name for span in self.spans})
            raise AssertionError(f"expected one span {name!r}, found {len(found)}; spans: {seen}")
        return found[0]

    # --- metrics ---

    def metrics(self) -> dict[str, Metric]:
        """Every metric collected so far, by name (cumulative values)."""
        data = self._reader.get_metrics_data()
        found: dict[str, Metric] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found[metric.name] = metric
        return found

    def metric_points(self, name: str, attributes: Mapping[str, Any] | None = None) -> list[Any]:
        """Data points of a metric whose attributes include ``attributes``."""
        metric = self.metrics().get(name)
        if metric is None:
            return []
        wanted = attributes or {}
        return [point for point in metric.data.data_points if _matches(point.attributes, wanted)]

    def histogram_count(self, name: str, attributes: Mapping[str, Any] | None = None) -> int:
        """How many measurements a histogram received (over matching attribute sets)."""
        return sum(point.count for point in self.metric_points(name, attributes))

    def counter_value(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        """The summed value of a counter over matching attribute sets."""
        return float(sum(point.value for point in self.metric_points(name, attributes)))

    def clear(self) -> None:
        """Forget the spans captured so far (metrics are cumulative and stay)."""
        self._exporter.clear()

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _matches(actual: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    actual = actual or {}
    return all(actual.get(key) == value for key, value in wanted.items())


@contextmanager
def capture_telemetry(**settings: Any) -> Iterator[Capture]:
    """Route every tracked call to an in-memory :class:`Capture` while the block runs.

    ``settings`` are configure() settings that matter to trackers, e.g.
    ``slow_query_threshold=0.1`` or ``capture_message_content=True``.
    """
    capture = Capture(**settings)
    previous = _runtime.install(capture.runtime)
    try:
        yield capture
    finally:
        _runtime.install(previous)
        capture.close()


class FakeClock:
    """A clock that moves only when told to; see :func:`fake_clock`.

    ``perf_counter()`` counts seconds from 0.0, ``time_ns()`` nanoseconds from
    ``start_ns``: both read one integer count of nanoseconds, so they always agree.
    """

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.start_ns = start_ns
        self._elapsed_ns = 0

    def advance(self, seconds: float) -> None:
        """Move the clock forward (never back: a monotonic clock cannot)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back {seconds} s")
        self._elapsed_ns += round(seconds * 1e9)

    def perf_counter(self) -> float:
        return self._elapsed_ns / 1e9

    def time_ns(self) -> int:
        return self.start_ns + self._elapsed_ns


class _TimeModule:
    """Stands for the ``time`` module in a module that calls ``time.perf_counter()``."""

    def __init__(self, clock: FakeClock) -> None:
        self.perf_counter = clock.perf_counter
        self.time_ns = clock.time_ns

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


# Where the library reads the time, as (module, name the module calls it by). Durations
# come from perf_counter, span timestamps from the SDK's time_ns. tests/test_clock.py
# checks that no module of the package reads the time anywhere else.
_CLOCK_READERS: tuple[tuple[str, str], ...] = (
    ("autobot_apm._tracking.handle", "perf_counter"),
    ("autobot_apm._tracking.lifecycle", "perf_counter"),
    ("autobot_apm.asgi", "perf_counter"),
    ("autobot_apm._http.request", "time"),
    ("autobot_apm._sdk.logs", "time"),
    ("opentelemetry.sdk.trace", "time_ns"),
)


def _fake_reading(clock: FakeClock, name: str) -> Any:
    if name == "time":
        return _TimeModule(clock)
    return clock.perf_counter if name == "perf_counter" else clock.time_ns


@contextmanager
def fake_clock(clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Make the library read the time from ``clock`` (a new FakeClock by default)."""
    clock = clock or FakeClock()
    saved = []
    try:
        for module_name, name in _CLOCK_READERS:
            module = importlib.import_module(module_name)
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, _fake_reading(clock, name))
        yield clock
    finally:
        for module, name, original in reversed(saved):
            setattr(module, name, original)


try:
    import pytest
except ImportError:  # pragma: no cover - the module is usable without pytest
    pass
else:

    @pytest.fixture
    def apm_capture() -> Iterator[Capture]:
        """Capture autobot-apm spans and metrics in memory for one test."""
        with capture_telemetry() as capture:
            yield capture

    @pytest.fixture
    def apm_clock() -> Iterator[FakeClock]:
        """A stopped clock for one test: durations and span times move with advance()."""
        with fake_clock() as clock:
            yield clock
