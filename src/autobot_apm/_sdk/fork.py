"""What a forked child rebuilds, and how forked children flush at exit.

``os.fork()`` copies the whole process, in the middle of whatever its other threads were
doing: a lock one of them held at that instant stays held forever in the child, and an
exporter's connection is shared with the parent. So the child trusts nothing this
library owns: at the fork it gets new locks and, when configure() built the providers,
new providers (with exporters, processors and metric readers of their own, and a new
``service.instance.id``).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import threading
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

from .._tracking import runtime as _runtime
from .._version import VERSION
from . import ambient as _ambient
from . import health as _health
from .providers import build_meter_provider, build_resource, build_tracer_provider
from .settings import Settings
from .state import STATE

logger = logging.getLogger("autobot_apm")


def rebuild_in_child() -> None:
    """After ``os.fork()``: trust nothing of ours that was copied mid-operation.

    A thread of the parent may have held an SDK lock (a metric aggregation, a span
    queue) at the instant of the fork; the child's copy of that lock stays held forever
    and its first tracked call would hang. So the child gets new locks and, when this
    library built the providers, new providers of its own (with a new
    ``service.instance.id``). Providers the application installed are the application's:
    they are used as they are, and the SDK's own after-fork handling applies to them.
    """
    state = STATE.setup
    state.lock = threading.Lock()
    _health.reset_after_fork()
    _ambient.reset_after_fork()
    settings = state.settings
    if settings is None or settings.disabled or not state.owned:
        return
    try:
        inherited = state.owned
        _silence_inherited(inherited)
        state.owned = ()
        tracer_provider, meter_provider = _child_providers(settings, inherited)
        state.owned = tuple(p for p in (tracer_provider, meter_provider) if p is not None)
        runtime = _runtime.Runtime(
            (tracer_provider or trace.get_tracer_provider()).get_tracer(
                _ambient.INSTRUMENTATION_SCOPE, VERSION
            ),
            (meter_provider or metrics.get_meter_provider()).get_meter(
                _ambient.INSTRUMENTATION_SCOPE, VERSION
            ),
            settings,
        )
        if meter_provider is not None:  # the application's meter has them since configure()
            _health.register_self_metrics(runtime.meter)
        _runtime.install(runtime)
    except Exception as exc:  # the child runs untracked rather than not at all
        _runtime.install(None)
        logger.warning("autobot-apm: telemetry off in forked child %d: %r", os.getpid(), exc)


def _silence_inherited(providers: tuple[Any, ...]) -> None:
    """Stop the metric readers of the parent's providers, copied into this child.

    Those providers stay the global ones (the API sets a global once per process), and
    the SDK restarts their periodic reader after the fork. Its next collection would
    read aggregations copied mid-update, behind locks a parent thread may hold (a hang),
    and send the parent's measurements again under this child's instance id. So their
    readers collect nothing from now on; the child's new provider reports its calls.
    """
    for provider in providers:
        for reader in getattr(provider, "_metric_readers", ()):
            try:  # the SDK's private state: a change there must not cost the child's rebuild
                reader._set_collect_callback(_collect_nothing)
                stopped = threading.Event()  # new: the copied one's lock may be held
                stopped.set()
                reader._shutdown_event = stopped  # the restarted ticker ends at once
            except Exception as exc:
                logger.debug("autobot-apm: could not stop an inherited reader: %r", exc)


def _collect_nothing(*_: object, **__: object) -> None:
    return None


def _child_providers(
    settings: Settings, inherited: tuple[Any, ...]
) -> tuple[SdkTracerProvider | None, SdkMeterProvider | None]:
    """Fresh providers for a forked child, for those configure() built; None for those
    the application installed (configure() adopted the global ones, which stay in use)."""
    resource = build_resource(settings)
    tracer_provider = meter_provider = None
    if any(isinstance(provider, SdkTracerProvider) for provider in inherited):
        tracer_provider = build_tracer_provider(settings, resource)
    if any(isinstance(provider, SdkMeterProvider) for provider in inherited):
        meter_provider = build_meter_provider(settings, resource)
    return tracer_provider, meter_provider


os.register_at_fork(after_in_child=rebuild_in_child)


class _ForkHook:
    """Anchor object for multiprocessing's after-fork registry (it keeps weak references)."""


_fork_hook = _ForkHook()


def flush_at_exit(shutdown: Callable[[], object]) -> None:
    """Flush at interpreter exit, and at the exit of multiprocessing's forked children.

    A child forked by multiprocessing leaves through ``os._exit``, which skips atexit;
    multiprocessing runs its own finalizers first, so the flush is registered there too.
    """
    atexit.register(shutdown)

    def register_child_flush(_: object) -> None:
        multiprocessing.util.Finalize(None, shutdown, exitpriority=100)

    multiprocessing.util.register_after_fork(_fork_hook, register_child_flush)
