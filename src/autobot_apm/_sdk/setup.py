"""configure() and shutdown(): the only place that builds SDK providers."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry import metrics, trace

from .._tracking import runtime as _runtime
from .._version import VERSION
from ..sampler import sampler_from_setting
from . import ambient as _ambient
from . import fork as _fork  # registers what a forked child rebuilds
from . import health as _health
from . import logs as _logs
from .providers import build_meter_provider, build_resource, build_tracer_provider
from .settings import Settings, resolve
from .state import STATE

logger = logging.getLogger("autobot_apm")

INSTRUMENTATION_SCOPE = _ambient.INSTRUMENTATION_SCOPE

# What configure() set up lives in STATE.setup. STATE.installed_globally holds the
# providers this library made global: the API allows setting them once per process, so
# after shutdown() a new configure() builds fresh providers for its own use and leaves
# those (shut down) in place for code that reads the globals.


def configure(
    *,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    disabled: bool | None = None,
    exporter: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    timeout: float | None = None,
    traces_sampler: str | None = None,
    sample_ratio: float | None = None,
    metric_export_interval: float | None = None,
    prometheus: str | int | bool | None = None,
    span_queue_size: int | None = None,
    span_batch_size: int | None = None,
    span_schedule_delay: float | None = None,
    shutdown_timeout: float | None = None,
    slow_query_threshold: float | None = None,
    capture_message_content: bool | str | None = None,
    content_max_length: int | None = None,
    llm_prices: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    semconv_stability_opt_in: str | Sequence[str] | None = None,
    excluded_urls: Sequence[str] | str | None = None,
    capture_request_headers: Sequence[str] | str | None = None,
    capture_response_headers: Sequence[str] | str | None = None,
    sanitize_header_fields: Sequence[str] | str | None = None,
    server_timing: bool | None = None,
    logging: bool | str | None = None,
    sampler: bool | Mapping[str, Any] | None = None,
) -> None:
    """Set up telemetry for this process. Safe to call more than once.

    Each setting is taken from its argument, else from the standard ``OTEL_*``
    environment variable, else from a default (``autobot-apm doctor`` shows which). With
    no endpoint configured anywhere, spans and metrics are printed to the console.

    If the application (or ``opentelemetry-instrument``) already installed global SDK
    providers, they are used as they are: autobot-apm adds no exporter of its own, and
    logs at INFO which of the given settings it therefore could not apply.

    Raises :class:`ConfigurationError` naming the setting when a value is malformed.

    Example::

        apm.configure(service_name="checkout", endpoint="http://127.0.0.1:4317",
                      protocol="grpc")
    """
    arguments = {name: value for name, value in locals().items() if value is not None}
    settings = resolve(arguments)
    with STATE.setup.lock:
        state = STATE.setup
        if state.settings is not None:
            _warn_if_changed(state.settings, settings)
            return
        state.settings = settings
        _ambient.stop()
        if settings.disabled:
            _runtime.install(None)
            return
        tracer_provider, meter_provider = _providers(settings)
        state.sampler = _start_sampler(settings, meter_provider)
        state.logs = _start_logging(settings, tracer_provider)
        runtime = _runtime.Runtime(
            tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, VERSION),
            meter_provider.get_meter(INSTRUMENTATION_SCOPE, VERSION),
            settings,
        )
        _health.register_self_metrics(runtime.meter)
        if not state.atexit_registered:
            _flush_at_exit()
            state.atexit_registered = True
        # Under the lock: a shutdown() in another thread must see settings and runtime
        # change together, or is_configured() could be true with no runtime installed.
        _runtime.install(runtime)


def _flush_at_exit() -> None:
    _fork.flush_at_exit(shutdown)


def is_configured() -> bool:
    """Whether configure() has run (telemetry may still be disabled by OTEL_SDK_DISABLED)."""
    return STATE.setup.settings is not None


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop telemetry; returns within ``timeout`` seconds (default 5) regardless.

    Returns True when everything was flushed in time. Tracked calls after shutdown run
    untracked. Registered to run at interpreter exit by configure().
    """
    with STATE.setup.lock:
        state = STATE.setup
        settings, owned, sampler = state.settings, state.owned, state.sampler
        pending = _health.unfinished() if owned else []  # not those of a later configure()
        _logs.shutdown_logging(state.logs)
        state.settings, state.owned, state.sampler, state.logs = None, (), None, None
        _ambient.stop()
        _runtime.install(None)  # with the settings, under the lock (see configure())
    flushed = True
    if settings is not None and owned:
        cap = settings.shutdown_timeout if timeout is None else max(0.0, timeout)
        flushed = _run_bounded([provider.shutdown for provider in owned], cap)
        if not flushed:
            _health.write_off_unsent(pending)
    if sampler is not None:
        sampler.stop()  # after the final collection, which still reads its gauges
    return flushed


def flush(timeout: float | None = None) -> bool:
    """Export what is buffered now; returns within ``timeout`` seconds (default 5) regardless.

    For servers that may end without running atexit: uvicorn, stopped with SIGTERM,
    re-raises the signal with the default handler once its graceful shutdown is done.
    """
    with STATE.setup.lock:
        settings, owned = STATE.setup.settings, STATE.setup.owned
    if settings is None or not owned:
        return True
    cap = settings.shutdown_timeout if timeout is None else max(0.0, timeout)
    return _run_bounded([provider.force_flush for provider in owned], cap, "flush")


def _start_sampler(settings: Settings, meter_provider: metrics.MeterProvider) -> Any:
    """Start the background sampler when configure(sampler=...) asks for it.

    A bad sampler option is a configuration error: undo what configure() built so far,
    so that a corrected configure() can follow.
    """
    if not settings.sampler:
        return None
    try:
        return sampler_from_setting(settings.sampler, meter_provider=meter_provider)
    except Exception:
        owned = STATE.setup.owned
        STATE.setup.settings, STATE.setup.owned = None, ()
        _run_bounded([provider.shutdown for provider in owned], settings.shutdown_timeout)
        raise


def _start_logging(settings: Settings, tracer_provider: trace.TracerProvider) -> Any:
    """Trace context on logging records, and OTLP export of them (configure(logging=...)).

    Log records name the same service as the spans: an adopted tracer provider's resource.
    """
    resource = getattr(tracer_provider, "resource", None) or build_resource(settings)
    logs = _logs.setup_logging(settings, resource)
    if logs is not None and logs.provider is not None:
        STATE.setup.owned = (*STATE.setup.owned, logs.provider)  # flushed by shutdown()
    return logs


def _providers(settings: Settings) -> tuple[trace.TracerProvider, metrics.MeterProvider]:
    """Adopt providers the application installed; build (and own) the missing ones."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    owned: list[Any] = []
    resource = build_resource(settings)
    tracer_adopted = not (_is_proxy(tracer_provider) or tracer_provider in STATE.installed_globally)
    meter_adopted = not (_is_proxy(meter_provider) or meter_provider in STATE.installed_globally)
    _ambient.log_unapplied_settings(settings, tracer_adopted, meter_adopted)
    if not tracer_adopted:
        tracer_provider = _install(
            build_tracer_provider(settings, resource), trace.set_tracer_provider
        )
        owned.append(tracer_provider)
    if not meter_adopted:
        meter_provider = _install(
            build_meter_provider(settings, resource), metrics.set_meter_provider
        )
        owned.append(meter_provider)
    elif settings.prometheus is not None:
        logger.warning(
            "autobot-apm: prometheus=%s adds no endpoint because the application's own "
            "MeterProvider is in use; give that provider a PrometheusMetricReader instead",
            settings.prometheus,
        )
    STATE.setup.owned = tuple(owned)
    return tracer_provider, meter_provider


P = TypeVar("P")


def _install(provider: P, set_global: Callable[[P], None]) -> P:
    installed = STATE.installed_globally
    if not installed or not any(type(p) is type(provider) for p in installed):
        set_global(provider)
        installed.append(provider)
    return provider


def _is_proxy(provider: object) -> bool:
    # Until a provider is set, the API hands out proxies; their class names are the only
    # public-enough marker (the metrics proxy class is private).
    return type(provider).__name__ in {"ProxyTracerProvider", "_ProxyMeterProvider"}


def _warn_if_changed(active: Settings, requested: Settings) -> None:
    before = active.as_mapping()
    changed = sorted(k for k, v in requested.as_mapping().items() if before[k] != v)
    if changed:
        logger.warning(
            "autobot-apm is already configured; configure() called again with different "
            "%s was ignored (call shutdown() first to reconfigure)",
            ", ".join(changed),
        )


def _run_bounded(steps: list[Callable[[], Any]], cap: float, what: str = "shutdown") -> bool:
    """Run each step in a daemon thread; give up waiting after ``cap`` seconds in total.

    A collector that is down makes the OTLP exporters retry with back-off for up to their
    own timeout (10 s by default, 30 s in the SDK's flush): exit must not wait for that.
    """
    deadline = time.monotonic() + cap
    threads = [
        threading.Thread(target=step, daemon=True, name="autobot-apm-shutdown") for step in steps
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    finished = not any(thread.is_alive() for thread in threads)
    if not finished:
        logger.warning(
            "autobot-apm: %s gave up after %.1f s; unsent telemetry was dropped", what, cap
        )
    return finished
