"""The console metric exporter: an aligned table of every metric, printed when it matters."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, TextIO

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)

from ..._tracking.errors import contained
from .estimate import explicit_buckets, exponential_buckets, summarize
from .table import MetricRow, render_metrics_table
from .text import paint, wants_color, write_text

_CUMULATIVE: dict[type, AggregationTemporality] = {
    instrument: AggregationTemporality.CUMULATIVE
    for instrument in (
        Counter,
        UpDownCounter,
        Histogram,
        ObservableCounter,
        ObservableUpDownCounter,
        ObservableGauge,
    )
}


class ConsoleMetricExporter(MetricExporter):
    """Print a table of all metrics: name and unit, attributes, value or histogram summary.

    Temporality is cumulative, so each table is complete on its own: counters count
    since start-up and histograms summarize every measurement so far (count, mean, max,
    and p50/p95 *estimated* from the buckets, see :mod:`.estimate`).

    When to print: a periodic reader exports every minute or so, and a table every
    minute would bury the span trees a developer is reading. So by default the table is
    printed on ``force_flush()`` and ``shutdown()`` only: at the end of a script, or
    when the application flushes. ``every_export=True`` prints on each export instead,
    for a long-running service watched from a terminal. Either way a table identical to
    the one printed last (nothing changed) is not printed again.

    Example::

        reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
        provider = MeterProvider(metric_readers=[reader])
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        color: bool | None = None,
        *,
        every_export: bool = False,
    ) -> None:
        super().__init__(preferred_temporality=dict(_CUMULATIVE))
        self._stream = stream
        self._color = wants_color(self._output) if color is None else color
        self._every_export = every_export
        self._lock = threading.Lock()
        self._latest = ""  # the table of the last export, printed or not
        self._printed = ""

    @property
    def _output(self) -> TextIO:
        # Looked up at write time, so a later redirection of sys.stdout is honoured.
        return self._stream if self._stream is not None else sys.stdout

    @contained(MetricExportResult.FAILURE)
    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Keep the table of this export; print it now only with ``every_export``."""
        table = render_metrics_table(list(metric_rows(metrics_data)), color=self._color)
        with self._lock:
            self._latest = table
        if self._every_export:
            self._print_latest()
        return MetricExportResult.SUCCESS

    @contained(False)
    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Print the latest table unless it was already printed."""
        self._print_latest()
        return True

    @contained(None)
    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Print the final table (the reader's last collection) unless already printed."""
        self._print_latest()

    def _print_latest(self) -> None:
        with self._lock:
            table = self._latest
            if not table or table == self._printed:
                return
            self._printed = table
            title = paint("metrics (cumulative since start)", "header", self._color)
            write_text(self._output, f"{title}\n{table}\n\n")


def metric_rows(metrics_data: MetricsData) -> Iterator[MetricRow]:
    """One row per data point of every metric in an export; metrics without points give none."""
    for resource_metrics in metrics_data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                yield from _rows(metric)


def _rows(metric: Metric) -> Iterator[MetricRow]:
    for point in metric.data.data_points:
        attributes = dict(point.attributes or {})
        row = MetricRow(metric.name, metric.unit or "", attributes)
        if isinstance(point, NumberDataPoint):
            yield replace(row, value=point.value)
        elif isinstance(point, HistogramDataPoint):
            buckets = explicit_buckets(point.explicit_bounds, point.bucket_counts)
            yield _histogram_row(row, buckets, point)
        elif isinstance(point, ExponentialHistogramDataPoint):
            buckets = exponential_buckets(
                point.scale,
                point.zero_count,
                (point.positive.offset, point.positive.bucket_counts),
                (point.negative.offset, point.negative.bucket_counts),
            )
            yield _histogram_row(row, buckets, point)


def _histogram_row(
    row: MetricRow,
    buckets: list[tuple[float, float, int]],
    point: HistogramDataPoint | ExponentialHistogramDataPoint,
) -> MetricRow:
    summary = summarize(buckets, point.count, point.sum, point.min, point.max)
    return replace(
        row,
        count=summary.count,
        mean=summary.mean,
        p50=summary.p50,
        p95=summary.p95,
        max=summary.max,
    )
