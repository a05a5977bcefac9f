"""What a forked child rebuilds, and how forked children flush at exit.

``os.fork()`` copies the whole process, in the middle of whatever its other threads were
doing: a lock one of them held at that instant stays held forever in the child, and an
exporter's connection is shared with the parent. So the child trusts nothing this
library owns: at the fork it gets new locks and, behind the providers configure()
built, a pipeline of its own (span processor, metric readers, log provider, exporters,
and a new ``service.instance.id``). The provider objects themselves stay: they are the
OpenTelemetry globals, and the application holds tracers, meters and instruments
obtained from them before the fork (see :mod:`.rewire`).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import multiprocessing.util
import os
import threading
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

from .._tracking import runtime as _runtime
from .._version import VERSION
from . import ambient as _ambient
from . import grpc_fork as _grpc_fork
from . import health as _health
from . import logs as _logs
from . import rewire as _rewire
from .exporters import exporter_kind
from .providers import build_meter_provider, build_resource, build_tracer_provider
from .settings import Settings
from .state import STATE

logger = logging.getLogger("autobot_apm")

# How much longer than one export's timeout a fork waits for the exports in flight.
_EXPORT_WAIT_MARGIN_S = 1.0


def hold_exports_for_fork() -> None:
    """Before ``os.fork()``: no gRPC export of ours may be in flight (see grpc_fork)."""
    settings = STATE.setup.settings
    timeout = settings.timeout if settings is not None else 0.0
    _grpc_fork.GATE.hold_for_fork(timeout + _EXPORT_WAIT_MARGIN_S)


def rebuild_in_child() -> None:
    """After ``os.fork()``: trust nothing of ours that was copied mid-operation.

    A thread of the parent may have held an SDK lock (a metric aggregation, a span
    queue) at the instant of the fork; the child's copy of that lock stays held forever
    and its first tracked call would hang. So the child gets new locks and, when this
    library built the providers, a pipeline of its own behind them (with a new
    ``service.instance.id``). Providers the application installed are the application's:
    they are used as they are, and the SDK's own after-fork handling applies to them.
    """
    grpc_prepared = _grpc_fork.GATE.reset_in_child()
    state = STATE.setup
    state.lock = threading.Lock()
    _health.reset_after_fork()
    _ambient.reset_after_fork()
    _logs.reset_after_fork()
    settings = state.settings
    if settings is None or settings.disabled or not state.owned:
        return
    if _needs_grpc(settings) and not _grpc_fork.usable_in_child(grpc_prepared):
        settings = _exporting_nothing(settings, grpc_prepared)
    try:
        _rebuild(settings)
    except Exception as exc:  # the child runs untracked rather than not at all
        _runtime.install(None)
        logger.warning("autobot-apm: telemetry off in forked child %d: %r", os.getpid(), exc)


def _needs_grpc(settings: Settings) -> bool:
    return settings.protocol == "grpc" and exporter_kind(settings) == "otlp"


def _exporting_nothing(settings: Settings, grpc_prepared: bool) -> Settings:
    """The child's settings when gRPC would crash it: tracked, but exported nowhere."""
    why = (
        f"{_grpc_fork.FORK_SUPPORT_VARIABLE} turns gRPC's fork handling off"
        if grpc_prepared
        else "a gRPC export was still in flight at the fork"
    )
    logger.warning(
        "autobot-apm: forked child %d exports no telemetry: %s, and gRPC would crash "
        "this process (use protocol='http/protobuf', or leave %s unset)",
        os.getpid(),
        why,
        _grpc_fork.FORK_SUPPORT_VARIABLE,
    )
    return dataclasses.replace(settings, exporter="none")


def _rebuild(settings: Settings) -> None:
    state = STATE.setup
    inherited, state.owned = state.owned, ()
    child = _ChildPipeline(settings, build_resource(settings))  # its own instance id
    # Meters first: a span or log processor built next may register the SDK's own
    # metrics (OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED) with the global meter provider.
    for provider in sorted(inherited, key=lambda p: not isinstance(p, SdkMeterProvider)):
        child.take(provider)
    child.take_logs(state.logs)
    # Kept, unused, for the child's life: a destructor of theirs (a gRPC channel's)
    # would call into a connection the parent still uses.
    state.retired = tuple(child.retired)
    state.owned = child.owned()
    if child.unexpected:
        logger.warning(
            "autobot-apm: in forked child %d, tracers and meters obtained before the fork "
            "keep the parent's copies (this opentelemetry-sdk's internals differ: %s); "
            "autobot-apm's own calls are recorded by providers of the child's",
            os.getpid(),
            "; ".join(child.unexpected),
        )
    _install_runtime(settings, child.tracer_provider, child.meter_provider)


class _ChildPipeline:
    """The providers a forked child records through, and what they replaced."""

    def __init__(self, settings: Settings, resource: Resource) -> None:
        self.settings, self.resource = settings, resource
        self.tracer_provider: SdkTracerProvider | None = None
        self.meter_provider: SdkMeterProvider | None = None
        self.logger_provider: Any = None
        self.retired: list[Any] = []
        self.unexpected: list[str] = []  # why a provider could not be rewired

    def take(self, provider: object) -> None:
        """Rewire an inherited provider; a new one takes its place if that fails."""
        settings, resource = self.settings, self.resource
        try:
            if isinstance(provider, SdkTracerProvider):
                self.tracer_provider = provider
                self.retired += _rewire.rewire_tracer_provider(provider, settings, resource)
            elif isinstance(provider, SdkMeterProvider):
                self.meter_provider = provider
                self.retired += _rewire.rewire_meter_provider(provider, settings, resource)
        except _rewire.UnexpectedInternals as exc:
            self.unexpected.append(str(exc))
            if isinstance(provider, SdkTracerProvider):
                self.tracer_provider = build_tracer_provider(settings, resource)
            else:  # the meter provider: its readers are stopped all the same
                with contextlib.suppress(_rewire.UnexpectedInternals):
                    readers = _rewire.metric_readers(provider)
                    _rewire.silence_readers(readers)
                    self.retired += readers
                self.meter_provider = build_meter_provider(settings, resource)

    def take_logs(self, setup: Any) -> None:
        inherited = _logs.rebuild_after_fork(setup, self.settings, self.resource)
        if inherited is not None:
            self.retired.append(inherited)
            self.logger_provider = setup.provider

    def owned(self) -> tuple[Any, ...]:
        built = (self.tracer_provider, self.meter_provider, self.logger_provider)
        return tuple(provider for provider in built if provider is not None)


def _install_runtime(
    settings: Settings,
    tracer_provider: SdkTracerProvider | None,
    meter_provider: SdkMeterProvider | None,
) -> None:
    """The trackers' runtime, over the child's providers (or the application's)."""
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


os.register_at_fork(
    before=hold_exports_for_fork,
    after_in_parent=_grpc_fork.GATE.release_after_fork,
    after_in_child=rebuild_in_child,
)


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
