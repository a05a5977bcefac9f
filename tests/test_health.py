"""Counting of telemetry that never reached the collector."""

import threading

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import autobot_apm as apm
from autobot_apm._sdk import exporters as _exporters
from autobot_apm._sdk import health as _health


class FailingExporter(SpanExporter):
    def __init__(self, outcome):
        self.outcome = outcome

    def export(self, spans):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def shutdown(self):
        pass


def _spans(n):
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    spans = []
    for _ in range(n):
        span = tracer.start_span("s")
        span.end()
        spans.append(span)
    provider.shutdown()
    return spans


class TestCountingSpanExporter:
    def test_failed_export_counts_every_span(self):
        """A FAILURE result counts the whole batch as dropped, export_failed."""
        exporter = _health.CountingSpanExporter(FailingExporter(SpanExportResult.FAILURE))
        assert SpanExportResult.FAILURE == exporter.export(_spans(3))
        assert {"traces.export_failed": 3} == _health.telemetry_health()["dropped"]

    def test_raising_exporter_is_contained_and_counted(self):
        """An exporter that raises is reported as a failed export, not propagated."""
        exporter = _health.CountingSpanExporter(FailingExporter(ConnectionError("down")))
        assert SpanExportResult.FAILURE == exporter.export(_spans(2))
        assert 2 == _health.telemetry_health()["dropped"]["traces.export_failed"]

    def test_success_counts_exported(self):
        """Delivered spans are counted as exported."""
        exporter = _health.CountingSpanExporter(FailingExporter(SpanExportResult.SUCCESS))
        exporter.export(_spans(4))
        assert {"traces": 4} == _health.telemetry_health()["exported"]


class TestQueueFull:
    def test_spans_beyond_the_queue_are_counted(self):
        """With a queue of 5 and a stuck exporter, the spans that overflow are counted."""
        processor = _health.CountingBatchSpanProcessor(
            FailingExporter(SpanExportResult.SUCCESS),
            max_queue_size=5,
            max_export_batch_size=5,
            schedule_delay_millis=60_000,
        )
        provider = TracerProvider()
        provider.add_span_processor(processor)
        processor._batch_processor._export_lock.acquire()  # the exporter is "stuck"
        try:
            tracer = provider.get_tracer("t")
            for _ in range(12):
                tracer.start_span("s").end()
        finally:
            processor._batch_processor._export_lock.release()
            provider.shutdown()
        assert 7 == _health.telemetry_health()["dropped"]["traces.queue_full"]


def test_warning_is_logged_once_per_kind(caplog):
    """The first loss of a kind is logged; later ones are only counted."""
    for _ in range(3):
        _health.count_dropped("traces", "queue_full", 1)
    warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert 1 == len(warnings)
    assert 3 == _health.telemetry_health()["dropped"]["traces.queue_full"]


class BlockingExporter(SpanExporter):
    """Its exports hang until released, as with a collector that stopped answering."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()

    def export(self, spans):
        self.entered.set()
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        self.closed.set()


def test_spans_left_when_shutdown_gives_up_are_counted(monkeypatch):
    """shutdown() gives up on a hung export: the spans in that export and those still
    queued are counted as dropped (shutdown_timeout), and not counted again when the
    abandoned export finally ends."""
    exporter = BlockingExporter()
    monkeypatch.setattr(_exporters, "span_exporter", lambda settings: exporter)
    apm.configure(exporter="none", span_batch_size=2, span_schedule_delay=600)
    try:
        for _ in range(2):  # a full batch: the export thread takes it and hangs
            with apm.track_cache("blocked"):
                pass
        assert exporter.entered.wait(10)
        for _ in range(3):  # these stay queued
            with apm.track_cache("blocked"):
                pass
        assert not apm.shutdown(timeout=0)
        assert {"traces.shutdown_timeout": 5} == _health.telemetry_health()["dropped"]
    finally:
        exporter.release.set()
        apm.shutdown(timeout=0)
    assert exporter.closed.wait(10)  # the abandoned shutdown has run to its end
    health = _health.telemetry_health()
    assert {"traces.shutdown_timeout": 5} == health["dropped"]
    assert "traces" not in health["exported"]


class TestRejectedCounterValues:
    """A counter add the runtime refuses (not a number, negative, or one that would take
    the running total out of OTLP's range) is a lost measurement, and counted as one."""

    @staticmethod
    def counter():
        from opentelemetry.sdk.metrics import MeterProvider

        from autobot_apm._tracking.runtime import BoundedCounter

        return BoundedCounter(MeterProvider().get_meter("t").create_counter("c"))

    def test_rejections_appear_in_telemetry_health(self):
        counter = self.counter()
        counter.add(3)
        counter.add(-1)
        counter.add("many")
        counter.add(2**62)
        assert 3 == counter.rejected
        assert {"metrics.rejected_value": 3} == apm.telemetry_health()["dropped"]

    def test_accepted_values_are_not_counted(self):
        self.counter().add(5)
        assert {} == apm.telemetry_health()["dropped"]
