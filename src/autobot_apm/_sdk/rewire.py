"""A forked child's own pipeline, behind the provider objects it inherited.

The providers configure() built are held far beyond this library: they are the
OpenTelemetry globals, and the application keeps the tracers, meters and instruments it
obtained from them, often at import, before any fork. Providers built anew in the child
would leave every one of those on the parent's copies. So the child keeps the objects
and replaces what stands behind them, all of it copied mid-operation: the span
processor, the metric readers and the exporters (connections of its own), the locks
taken on the way, and the resource (the child's ``service.instance.id``).

The objects are the SDK's, and what is replaced is their private state, as
opentelemetry-sdk 1.40 to 1.45 lay it out (``tests/test_rewire.py`` pins it). Each
function checks that state before it changes anything and raises
:class:`UnexpectedInternals` when it differs, leaving the provider as it was; the
caller then falls back to providers of the child's own for the trackers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.measurement_consumer import MeasurementConsumer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from . import health as _health
from .providers import build_meter_provider, build_span_processor
from .settings import Settings

logger = logging.getLogger("autobot_apm")

# The lock classes an object may hold directly, and how to make a new one of each.
_NEW_LOCK: dict[type, Any] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
}


class UnexpectedInternals(Exception):  # noqa: N818 (a finding about the SDK, not our fault)
    """The SDK's private state is not laid out as this module expects."""


def rewire_tracer_provider(
    provider: TracerProvider, settings: Settings, resource: Resource
) -> list[Any]:
    """Send what ``provider`` and every tracer it handed out record through a new span
    processor, under ``resource``; return the inherited processors it replaced.

    A tracer holds its provider's composite span processor and resource, not the
    provider: the composite stays (with a new lock and new members) and each tracer the
    provider remembers gets the resource. Span processors the application added are
    kept; the SDK's own after-fork handling applies to them.
    """
    composite = _attribute(provider, "_active_span_processor")
    members = _attribute(composite, "_span_processors", tuple)
    _attribute(provider, "_resource", Resource)
    tracers = getattr(provider, "_tracers", {})  # remembered since opentelemetry-sdk 1.41
    if not isinstance(tracers, dict):
        raise UnexpectedInternals("TracerProvider._tracers")
    inherited = [m for m in members if isinstance(m, _health.CountingBatchSpanProcessor)]
    kept = tuple(m for m in members if not isinstance(m, _health.CountingBatchSpanProcessor))
    fresh = build_span_processor(settings)
    renew_locks(composite)
    # Ours came first (configure() adds it to a provider it has just built).
    composite._span_processors = kept if fresh is None else (fresh, *kept)
    renew_locks(provider)
    provider._resource = resource
    for tracer in tracers.values():
        tracer.resource = resource
    return inherited


def rewire_meter_provider(
    provider: MeterProvider, settings: Settings, resource: Resource
) -> list[Any]:
    """Send what ``provider`` and every meter and instrument it handed out record to new
    metric readers, under ``resource``; return the inherited readers, now stopped.

    An instrument holds its meter's measurement consumer, which holds the aggregations
    (copied mid-update, behind locks a parent thread may hold). A provider is built for
    the child; ``provider`` takes over its state, keeping the meters it handed out, and
    the inherited consumer becomes a forwarder to the new one, so every instrument
    records into aggregations of the child's. Observable instruments keep their
    callbacks. Readers the application added are stopped with ours: their aggregations
    were copies too.
    """
    consumer = _attribute(provider, "_measurement_consumer")
    observables = list(_attribute(consumer, "_async_instruments", list))
    meters = _attribute(provider, "_meters", dict)
    readers = metric_readers(provider)
    _attribute(consumer, "register_asynchronous_instrument")
    _attribute(MeterProvider, "_all_metric_readers_lock")
    # Class-wide, taken by every MeterProvider built: a parent thread may hold the copy.
    MeterProvider._all_metric_readers_lock = threading.Lock()
    fresh = build_meter_provider(settings, resource)
    target = _attribute(fresh, "_measurement_consumer")
    _forward(consumer, target, fresh)
    for instrument in observables:
        target.register_asynchronous_instrument(instrument)
    vars(provider).update({name: v for name, v in vars(fresh).items() if name != "_meters"})
    for meter in meters.values():
        renew_locks(meter)
    silence_readers(readers)
    return readers


def metric_readers(provider: object) -> list[Any]:
    """The provider's metric readers (kept in its SDK configuration before 1.43)."""
    readers = getattr(provider, "_metric_readers", None)
    if readers is None:
        readers = getattr(getattr(provider, "_sdk_config", None), "metric_readers", None)
    if readers is None:
        raise UnexpectedInternals("MeterProvider._metric_readers")
    return list(readers)


def silence_readers(readers: list[Any]) -> None:
    """Stop inherited metric readers for good, without a call into their exporters.

    The SDK restarts a periodic reader's thread after the fork; its next collection
    would read aggregations copied mid-update, behind locks a parent thread may hold (a
    hang), and send the parent's measurements again under the child's instance id. So
    their readers collect nothing from now on, and the restarted thread ends at once.
    """
    for reader in readers:
        try:  # the SDK's private state: a change there must not cost the child its rebuild
            reader._set_collect_callback(_collect_nothing)
            stopped = threading.Event()  # new: the copied one's lock may be held
            stopped.set()
            reader._shutdown_event = stopped
        except Exception as exc:
            logger.debug("autobot-apm: could not stop an inherited reader: %r", exc)


def renew_locks(holder: object) -> None:
    """Give ``holder`` a new lock in place of each lock it holds directly.

    A lock held by another thread at the fork stays held in the child for ever; only
    the forking thread exists there, so no one is inside what a new lock guards.
    """
    for name, value in list(vars(holder).items()):
        make = _NEW_LOCK.get(type(value))
        if make is not None:
            setattr(holder, name, make())


class _ForwardingConsumer(MeasurementConsumer):
    """What the inherited measurement consumer becomes: a forwarder to the child's.

    Every meter and instrument obtained before the fork holds the inherited consumer;
    changing its class reaches all of them at once, wherever the application keeps
    them. It keeps no state of its own. The provider itself holds the child's consumer,
    so only what instruments and meters call is forwarded (no ``__getattr__``: on
    CPython it slows every attribute read of the class, a third of a microsecond here).
    """

    _target: Any

    def consume_measurement(self, measurement: Any) -> None:
        self._target.consume_measurement(measurement)

    def register_asynchronous_instrument(self, instrument: Any) -> None:
        self._target.register_asynchronous_instrument(instrument)

    def collect(self, metric_reader: Any, timeout_millis: float = 10_000) -> Any:
        return self._target.collect(metric_reader, timeout_millis)


def _forward(consumer: Any, target: Any, fresh: MeterProvider) -> None:
    try:  # first: when the class cannot change, nothing else has
        consumer.__class__ = _ForwardingConsumer
    except TypeError as exc:
        fresh.shutdown()
        raise UnexpectedInternals(f"{type(consumer).__name__}: {exc}") from exc
    state = vars(consumer)
    state.clear()  # the copied aggregations go: nothing may find them any more
    state["_target"] = target


def _attribute(holder: object, name: str, kind: type | None = None) -> Any:
    value = getattr(holder, name, _MISSING)
    if value is _MISSING or (kind is not None and not isinstance(value, kind)):
        raise UnexpectedInternals(f"{type(holder).__name__}.{name}")
    return value


_MISSING = object()


def _collect_nothing(*_: object, **__: object) -> None:
    return None
