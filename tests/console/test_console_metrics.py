"""The console metric exporter, driven by a real MeterProvider."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

from autobot_apm._sdk.console import ConsoleMetricExporter, MetricRow, metric_rows

TITLE = "metrics (cumulative since start)"
BOUNDS = [0.01, 0.02, 0.03, 0.04]


@dataclass
class Console:
    provider: MeterProvider
    reader: PeriodicExportingMetricReader
    stream: io.StringIO


def make_console(every_export: bool = False) -> Console:
    stream = io.StringIO()
    exporter = ConsoleMetricExporter(stream=stream, color=False, every_export=every_export)
    # An interval this long never fires during a test: exports happen on demand only.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=10**9)
    return Console(MeterProvider(metric_readers=[reader]), reader, stream)


@pytest.fixture
def console() -> Iterator[Console]:
    made = make_console()
    yield made
    made.provider.shutdown()


def memory_usage(options: CallbackOptions) -> Iterable[Observation]:
    return [Observation(2_621_440)]


def nothing(options: CallbackOptions) -> Iterable[Observation]:
    return []


def record_shop_metrics(provider: MeterProvider) -> None:
    """A histogram with explicit buckets, a counter, and two observable gauges."""
    meter = provider.get_meter("test")
    duration = meter.create_histogram(
        "http.server.request.duration", unit="s", explicit_bucket_boundaries_advisory=BOUNDS
    )
    for seconds in (0.005, 0.015, 0.025, 0.035):
        duration.record(seconds, {"http.route": "/pay"})
    orders = meter.create_counter("app.orders", unit="{order}")
    orders.add(5, {"shop": "south"})
    orders.add(3, {"shop": "north"})
    meter.create_observable_gauge("process.memory.usage", [memory_usage], unit="By")
    meter.create_observable_gauge("app.idle", [nothing])


class TestTable:
    def test_force_flush_prints_aligned_table(self, console: Console) -> None:
        """Histogram summary, counter values and gauge value, grouped, sorted and aligned."""
        record_shop_metrics(console.provider)

        console.provider.force_flush()

        # mean 20 ms; p50 at rank 2 ends bucket (10, 20] ms; p95 at rank 3.8 is 80% into
        # the last filled bucket (30, 40] ms clamped to the max, 35 ms: 34 ms.
        expected = "\n".join(
            [
                TITLE,
                "metric                            attributes          value  count     mean"
                "      p50      p95      max",
                "app.orders (order)                shop=north              3",
                "                                  shop=south              5",
                "http.server.request.duration (s)  http.route=/pay                4  20.0 ms"
                "  20.0 ms  34.0 ms  35.0 ms",
                "process.memory.usage (By)                          2.50 MiB",
                "",
                "",
            ]
        )  # fmt: skip
        assert expected == console.stream.getvalue()

    def test_metric_without_points_is_skipped(self, console: Console) -> None:
        """An observable gauge that observed nothing does not appear."""
        record_shop_metrics(console.provider)

        console.provider.force_flush()

        assert "app.idle" not in console.stream.getvalue()

    def test_values_are_cumulative(self, console: Console) -> None:
        """A counter shows its total since start, not the change since the last table."""
        counter = console.provider.get_meter("test").create_counter("jobs")
        counter.add(2)
        console.provider.force_flush()
        counter.add(3)
        console.provider.force_flush()

        lines = console.stream.getvalue().splitlines()
        assert [["jobs", "2"], ["jobs", "5"]] == [
            line.split() for line in lines if line.startswith("jobs")
        ]

    def test_no_color_codes(self, console: Console) -> None:
        """color=False prints no escape codes."""
        record_shop_metrics(console.provider)
        console.provider.force_flush()

        assert "\x1b" not in console.stream.getvalue()


class TestWhenPrinted:
    def test_periodic_export_alone_prints_nothing(self, console: Console) -> None:
        """By default an export is kept, and printed only on force_flush."""
        record_shop_metrics(console.provider)

        console.reader.collect()

        assert "" == console.stream.getvalue()
        console.provider.force_flush()
        assert 1 == console.stream.getvalue().count(TITLE)

    def test_unchanged_table_not_repeated(self, console: Console) -> None:
        """A flush, then shutdown with nothing new, prints the table once."""
        record_shop_metrics(console.provider)

        console.provider.force_flush()
        console.provider.shutdown()

        assert 1 == console.stream.getvalue().count(TITLE)

    def test_shutdown_prints_final_table(self) -> None:
        """Shutdown prints what changed since the last table."""
        console = make_console()
        counter = console.provider.get_meter("test").create_counter("jobs")
        counter.add(1)
        console.provider.force_flush()
        counter.add(1)

        console.provider.shutdown()

        assert ["jobs", "2"] == console.stream.getvalue().strip().splitlines()[-1].split()

    def test_every_export_prints_changes_only(self) -> None:
        """With every_export, each export that changed something prints a table."""
        console = make_console(every_export=True)
        counter = console.provider.get_meter("test").create_counter("jobs")
        counter.add(1)

        console.reader.collect()
        console.reader.collect()
        counter.add(1)
        console.reader.collect()
        console.provider.shutdown()

        assert 2 == console.stream.getvalue().count(TITLE)


def collected_rows(provider: MeterProvider, reader: InMemoryMetricReader) -> list[MetricRow]:
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return list(metric_rows(data))


class TestMetricRows:
    def test_exponential_histogram_summary(self) -> None:
        """Exponential histograms are summarized too, p50 close to the true median."""
        reader = InMemoryMetricReader()
        view = View(instrument_name="latency", aggregation=ExponentialBucketHistogramAggregation())
        provider = MeterProvider(metric_readers=[reader], views=[view])
        histogram = provider.get_meter("test").create_histogram("latency", unit="s")
        for millis in range(1, 101):
            histogram.record(millis / 1000)

        [row] = collected_rows(provider, reader)

        assert (100, 0.1) == (row.count, row.max)
        assert 0.0505 == pytest.approx(row.mean)
        assert 0.050 == pytest.approx(row.p50, rel=0.05)
        assert 0.095 == pytest.approx(row.p95, rel=0.05)

    def test_sum_and_gauge_values(self) -> None:
        """Sums and gauges give one row per attribute set with the value."""
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        meter = provider.get_meter("test")
        meter.create_up_down_counter("queue.depth").add(4, {"queue": "mail"})
        meter.create_observable_gauge("process.memory.usage", [memory_usage], unit="By")

        rows = collected_rows(provider, reader)

        assert [
            MetricRow("queue.depth", "", {"queue": "mail"}, value=4),
            MetricRow("process.memory.usage", "By", {}, value=2_621_440),
        ] == rows


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("console went away")


class TestNeverRaises:
    def test_write_failure_is_contained(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A failing stream makes export return FAILURE instead of raising."""
        monkeypatch.delenv("AUTOBOT_APM_STRICT", raising=False)
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        provider.get_meter("test").create_counter("jobs").add(1)
        data = reader.get_metrics_data()
        provider.shutdown()
        assert data is not None
        exporter = ConsoleMetricExporter(stream=BrokenStream(), color=False, every_export=True)

        assert MetricExportResult.FAILURE == exporter.export(data)
