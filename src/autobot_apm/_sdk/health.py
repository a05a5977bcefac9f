"""Accounting of telemetry that did not reach the collector, so losses are visible.

The SDK drops spans silently when its queue is full and logs (at most) when an export
fails. Here every loss is counted, by signal and reason, and exposed three ways: the
``autobot_apm.telemetry.dropped`` counter (visible wherever metrics still flow, e.g. the
console or a Prometheus scrape), :func:`telemetry_health` for code and for
``autobot-apm doctor``, and one warning in the log the first time each kind of loss
happens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .state import STATE, HealthState

logger = logging.getLogger("autobot_apm")


def count_dropped(signal: str, reason: str, amount: int) -> None:
    """Record ``amount`` items of ``signal`` lost for ``reason``."""
    if amount <= 0:
        return
    health = STATE.health
    with health.lock:
        health.dropped[(signal, reason)] += amount
        first = (signal, reason) not in health.warned
        health.warned.add((signal, reason))
    if first:
        logger.warning(
            "autobot-apm: %s dropped (%s); further drops are counted in "
            "autobot_apm.telemetry.dropped without more warnings",
            signal,
            reason.replace("_", " "),
        )


def count_exported(signal: str, amount: int) -> None:
    health = STATE.health
    with health.lock:
        health.exported[signal] += amount


def telemetry_health() -> dict[str, Any]:
    """Counts of telemetry exported and dropped in this process, since start.

    Example result: ``{"exported": {"traces": 1200}, "dropped": {"traces.queue_full": 3}}``.
    """
    health = STATE.health
    with health.lock:
        return {
            "exported": dict(health.exported),
            "dropped": {f"{sig}.{reason}": n for (sig, reason), n in health.dropped.items()},
        }


def reset_after_fork() -> None:
    """In a forked child: a new lock (the copy may be held) and counts of its own.

    The pipelines the parent had not shut down are not the child's to flush or write
    off: the child builds its own (see the fork module), which count themselves in.
    """
    STATE.health = HealthState()


class _InFlight:
    """The items of the export under way, and whether shutdown() already wrote them off.

    When shutdown() gives up on an export that hangs, the items in it are counted as
    dropped there and then; if the abandoned export ends later, it is not counted again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items = 0
        self._written_off = False

    def start(self, items: int) -> None:
        with self._lock:
            self._items = items

    def end(self) -> bool:
        """The export returned: whether its outcome is still ours to count."""
        with self._lock:
            self._items = 0
            return not self._written_off

    def write_off(self) -> int:
        """Stop counting outcomes; return the items of the export still under way."""
        with self._lock:
            items, self._items = (0 if self._written_off else self._items), 0
            self._written_off = True
            return items


def unfinished() -> list[Any]:
    """The counting pipelines (span processors, metric exporters) not shut down yet."""
    return list(STATE.health.unfinished)


def write_off_unsent(pipelines: list[Any]) -> None:
    """shutdown() gave up waiting: count what these still hold (queued or being
    exported) as lost, with the reason shutdown_timeout."""
    for pipeline in pipelines:
        pipeline.write_off()


class CountingSpanExporter(SpanExporter):
    """Wraps the real exporter; counts what it delivered and what it failed to."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.in_flight = _InFlight()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.in_flight.start(len(spans))
        try:
            result = self.inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if not self.in_flight.end():
            return result
        if result is SpanExportResult.SUCCESS:
            count_exported("traces", len(spans))
        else:
            count_dropped("traces", "export_failed", len(spans))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingMetricExporter(MetricExporter):
    """Wraps the real metric exporter; counts data points delivered and lost."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.in_flight = _InFlight()
        STATE.health.unfinished.add(self)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        points = _count_points(metrics_data)
        self.in_flight.start(points)
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            result = MetricExportResult.FAILURE
        if not self.in_flight.end():
            return result
        if result is MetricExportResult.SUCCESS:
            count_exported("metrics", points)
        else:
            count_dropped("metrics", "export_failed", points)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
        # The final collection was exported (or counted) first.
        STATE.health.unfinished.discard(self)

    def write_off(self) -> None:
        STATE.health.unfinished.discard(self)
        count_dropped("metrics", "shutdown_timeout", self.in_flight.write_off())


def _count_points(metrics_data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans it drops: because its queue is full,
    or because shutdown ended (or gave up) before they were exported."""

    def __init__(self, span_exporter: SpanExporter, **options: Any) -> None:
        super().__init__(span_exporter, **options)
        self._counting = span_exporter if isinstance(span_exporter, CountingSpanExporter) else None
        STATE.health.unfinished.add(self)

    def shutdown(self) -> None:
        super().shutdown()  # type: ignore[no-untyped-call]
        # The SDK stops exporting when its own wait runs out, leaving the rest queued.
        self.write_off()

    def write_off(self) -> None:
        """Count the spans still queued or being exported as lost; once."""
        STATE.health.unfinished.discard(self)
        in_flight = self._counting.in_flight.write_off() if self._counting else 0
        batch = getattr(self, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        # Left in place: an abandoned export that resumes may still send them, uncounted.
        queued = len(queue) if queue is not None else 0
        count_dropped("traces", "shutdown_timeout", queued + in_flight)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled and self._queue_full():
            count_dropped("traces", "queue_full", 1)
        super().on_end(span)

    def _queue_full(self) -> bool:
        # The queue is private to the SDK; without it we cannot tell, so we do not count.
        batch = getattr(self, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        limit = getattr(batch, "_max_queue_size", None)
        return queue is not None and limit is not None and len(queue) >= limit


def register_self_metrics(meter: Meter) -> None:
    """The ``autobot_apm.telemetry.dropped`` counter, read from the counts above."""
    meter.create_observable_counter(
        "autobot_apm.telemetry.dropped",
        callbacks=[_observe_dropped],
        unit="{item}",
        description="Spans and metric points that never reached the collector, by reason.",
    )


def _observe_dropped(options: CallbackOptions) -> Iterable[Observation]:
    health = STATE.health
    with health.lock:
        counts = list(health.dropped.items())
    for (signal, reason), amount in counts:
        yield Observation(amount, {"autobot_apm.signal": signal, "autobot_apm.reason": reason})
