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
"""

from __future__ import annotations

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

__all__ = ["Capture", "capture_telemetry"]


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
