"""A forked child's pipeline behind the providers it inherited (``_sdk/rewire.py``).

In one process, without forking: a provider built as configure() builds it is used as a
parent would use it (tracers, meters and instruments obtained, measurements recorded,
locks held by another thread, as at the instant of a fork), then rewired as the child
does. What was obtained before must record through the new exporters under the new
resource, without touching a lock the "parent" holds. These tests also pin the SDK's
private layout the module relies on: an SDK release that changes it fails here first.
"""

import contextlib
import threading

import pytest
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_apm._sdk import exporters, rewire
from autobot_apm._sdk.providers import build_meter_provider, build_tracer_provider
from autobot_apm._sdk.settings import resolve

PARENT = Resource({"service.name": "svc", "service.instance.id": "parent"})
CHILD = Resource({"service.name": "svc", "service.instance.id": "child"})
BOUND_S = 10.0  # only keeps a broken test from hanging


class MetricSink(MetricExporter):
    """Keeps every export."""

    def __init__(self):
        super().__init__()
        self.exports = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        self.exports.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        return None


class Sinks:
    """The exporters configure() would build, in memory; a new pair per generation."""

    def __init__(self):
        self.spans, self.metrics = [], []

    def span_exporter(self, _settings):
        self.spans.append(InMemorySpanExporter())
        return self.spans[-1]

    def metric_exporter(self, _settings):
        self.metrics.append(MetricSink())
        return self.metrics[-1]


@pytest.fixture
def sinks(monkeypatch):
    found = Sinks()
    monkeypatch.setattr(exporters, "span_exporter", found.span_exporter)
    monkeypatch.setattr(exporters, "metric_exporter", found.metric_exporter)
    return found


@pytest.fixture
def settings():
    return resolve({"metric_export_interval": 3600, "span_schedule_delay": 3600}, environ={})


@pytest.fixture
def providers():
    """Providers a test builds, shut down after it."""
    built = []
    yield built
    for provider in built:
        with contextlib.suppress(Exception):
            provider.shutdown()


@contextlib.contextmanager
def held(*locks):
    """Another thread holds ``locks`` throughout, as a parent thread may at a fork."""
    taken, release = threading.Event(), threading.Event()

    def hold():
        for lock in locks:
            lock.acquire()
        taken.set()
        release.wait(BOUND_S * 3)
        for lock in locks:
            lock.release()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(BOUND_S)
    try:
        yield
    finally:
        release.set()
        holder.join(BOUND_S)


def returns(call):
    """Whether ``call()`` returns (bounded wait: False means it blocked)."""
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    return not worker.is_alive()


def _points(sink, name):
    """(instance id, attributes, value) of each point of metric ``name``, in every export."""
    return [
        (rm.resource.attributes["service.instance.id"], dict(point.attributes), point.value)
        for data in sink.exports
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


class TestTracerProvider:
    def _parent(self, settings, providers):
        provider = build_tracer_provider(settings, PARENT)
        providers.append(provider)
        return provider

    def test_a_tracer_from_before_exports_through_the_new_processor(
        self, sinks, settings, providers
    ):
        """A tracer obtained before the rewire sends its spans to the new exporter, under
        the new resource; the inherited exporter gets nothing more."""
        provider = self._parent(settings, providers)
        tracer = provider.get_tracer("app")
        rewire.rewire_tracer_provider(provider, settings, CHILD)
        tracer.start_span("after").end()
        provider.force_flush()
        inherited, fresh = sinks.spans
        assert () == inherited.get_finished_spans()
        (span,) = fresh.get_finished_spans()
        # opentelemetry-sdk 1.40 does not remember the tracers it hands out.
        expected = "child" if hasattr(provider, "_tracers") else "parent"
        assert ("after", expected) == (span.name, span.resource.attributes["service.instance.id"])
        assert "child" == provider.resource.attributes["service.instance.id"]

    def test_returns_the_inherited_processor_and_keeps_the_applications(
        self, sinks, settings, providers
    ):
        """Ours is replaced (and returned, to be kept unused); a processor the application
        added to the provider stays, after ours."""
        provider = self._parent(settings, providers)
        ours = provider._active_span_processor._span_processors[0]
        applications = SimpleSpanProcessor(InMemorySpanExporter())
        provider.add_span_processor(applications)
        assert [ours] == rewire.rewire_tracer_provider(provider, settings, CHILD)
        members = provider._active_span_processor._span_processors
        assert 2 == len(members)
        assert members[0] is not ours
        assert members[1] is applications

    def test_locks_held_at_the_fork_are_not_waited_for(self, sinks, settings, providers):
        """With the inherited locks held by another thread, the rewired provider still
        hands out tracers and takes new processors."""
        provider = self._parent(settings, providers)
        locks = [provider._active_span_processor._lock]
        locks += [provider._tracers_lock] if hasattr(provider, "_tracers_lock") else []
        with held(*locks):
            rewire.rewire_tracer_provider(provider, settings, CHILD)
            assert returns(lambda: provider.get_tracer("late").start_span("late").end())
            assert returns(lambda: provider.add_span_processor(SimpleSpanProcessor(sinks.spans[0])))

    def test_an_unexpected_layout_changes_nothing(self, sinks, settings, providers):
        """Without the composite processor it expects, it raises UnexpectedInternals and
        leaves the provider and its resource as they were."""
        provider = self._parent(settings, providers)
        composite = provider._active_span_processor
        members = composite._span_processors
        del composite._span_processors
        with pytest.raises(rewire.UnexpectedInternals):
            rewire.rewire_tracer_provider(provider, settings, CHILD)
        composite._span_processors = members
        assert "parent" == provider.resource.attributes["service.instance.id"]
        assert 1 == len(sinks.spans)  # nothing was built


class TestMeterProvider:
    def _parent(self, settings, providers):
        provider = build_meter_provider(settings, PARENT)
        providers.append(provider)
        return provider

    def test_an_instrument_from_before_records_into_the_new_reader(
        self, sinks, settings, providers
    ):
        """A counter obtained (and used) before the rewire records into the child's
        reader, under the child's resource, without the counts recorded before."""
        provider = self._parent(settings, providers)
        jobs = provider.get_meter("app").create_counter("jobs")
        jobs.add(40, {"who": "parent"})
        rewire.rewire_meter_provider(provider, settings, CHILD)
        jobs.add(1, {"who": "child"})
        provider.force_flush()
        inherited, fresh = sinks.metrics
        assert [] == inherited.exports
        assert [("child", {"who": "child"}, 1)] == _points(fresh, "jobs")

    def test_observable_callbacks_and_later_meters_carry_on(self, sinks, settings, providers):
        """An observable instrument registered before keeps reporting; a meter asked for
        after the rewire records to the same reader."""
        provider = self._parent(settings, providers)
        provider.get_meter("app").create_observable_gauge(
            "depth", callbacks=[lambda _options: [Observation(7)]]
        )
        rewire.rewire_meter_provider(provider, settings, CHILD)
        provider.get_meter("late").create_counter("late").add(2)
        provider.force_flush()
        fresh = sinks.metrics[-1]
        assert [("child", {}, 7)] == _points(fresh, "depth")
        assert [("child", {}, 2)] == _points(fresh, "late")

    def test_inherited_readers_are_returned_and_collect_nothing(self, sinks, settings, providers):
        """The inherited readers come back (to be kept unused) and collect nothing."""
        provider = self._parent(settings, providers)
        (reader,) = rewire.metric_readers(provider)
        assert [reader] == rewire.rewire_meter_provider(provider, settings, CHILD)
        reader.collect()
        assert [] == sinks.metrics[0].exports

    def test_locks_held_at_the_fork_are_not_waited_for(self, sinks, settings, providers):
        """With the inherited aggregation, consumer, meter and provider locks held by
        another thread, an instrument from before records and the provider flushes."""
        provider = self._parent(settings, providers)
        meter = provider.get_meter("app")
        jobs = meter.create_counter("jobs")
        jobs.add(1, {"who": "parent"})
        consumer = provider._measurement_consumer
        locks = [consumer._lock, meter._instrument_registration_lock, provider._meter_lock]
        locks += [storage._lock for storage in consumer._reader_storages.values()]
        with held(*locks):
            rewire.rewire_meter_provider(provider, settings, CHILD)
            assert returns(lambda: jobs.add(1, {"who": "child"}))
            assert returns(lambda: meter.create_histogram("later").record(1))
            assert returns(provider.force_flush)
        assert [("child", {"who": "child"}, 1)] == _points(sinks.metrics[-1], "jobs")

    def test_an_unexpected_layout_changes_nothing(self, sinks, settings, providers):
        """Without the meters it expects, it raises UnexpectedInternals, builds nothing,
        and the provider records as before."""
        provider = self._parent(settings, providers)
        meters = provider._meters
        del provider._meters
        with pytest.raises(rewire.UnexpectedInternals):
            rewire.rewire_meter_provider(provider, settings, CHILD)
        provider._meters = meters
        provider.get_meter("app").create_counter("jobs").add(3)
        provider.force_flush()
        assert 1 == len(sinks.metrics)
        assert [("parent", {}, 3)] == _points(sinks.metrics[0], "jobs")


class TestRenewLocks:
    def test_every_lock_held_directly_is_new(self):
        """Locks and reentrant locks are replaced by new ones of their kind; the rest stays."""

        class Holder:
            def __init__(self):
                self.lock, self.rlock, self.other = threading.Lock(), threading.RLock(), [1]

        holder = Holder()
        before = dict(vars(holder))
        rewire.renew_locks(holder)
        assert holder.lock is not before["lock"]
        assert holder.rlock is not before["rlock"]
        kinds = (type(holder.lock), type(holder.rlock))
        assert (type(before["lock"]), type(before["rlock"])) == kinds
        assert holder.other is before["other"]
