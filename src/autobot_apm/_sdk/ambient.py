"""Tracked calls without configure(): record through the process's own OpenTelemetry set-up.

An application may install SDK providers itself (``trace.set_tracer_provider(...)``) or be
started by ``opentelemetry-instrument``, before or after its tracked functions were
decorated. The first tracked call after such a provider appears builds a runtime over
the global providers and installs it, so later calls take the configured path. While
the global providers are the API's placeholders, nothing is built and the warning below
is logged once.
"""

from __future__ import annotations

import logging
import threading

from opentelemetry import metrics, trace

from .._tracking import runtime as _runtime
from .._tracking.errors import ConfigurationError
from .._version import VERSION
from .settings import Settings, resolve
from .state import STATE

logger = logging.getLogger("autobot_apm")

INSTRUMENTATION_SCOPE = "autobot_apm"

# The API's stand-ins for "no SDK": proxies until a provider is set, and the no-op ones.
# Class names, because the metrics proxy class is private.
_PLACEHOLDERS = frozenset(
    {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider"}
)


NOTHING_RECORDS = (
    "autobot-apm: tracked calls are not recorded: autobot_apm.configure() was not called "
    "and no OpenTelemetry SDK TracerProvider or MeterProvider is installed. Call "
    "autobot_apm.configure() at start-up, or install SDK providers yourself "
    "(trace.set_tracer_provider / metrics.set_meter_provider, or run the program under "
    "opentelemetry-instrument). Logged once."
)


def is_placeholder(provider: object) -> bool:
    """Whether ``provider`` is one of the API's stand-ins, which record nothing."""
    return type(provider).__name__ in _PLACEHOLDERS


def adopt_process_providers() -> _runtime.Runtime | None:
    """Install a runtime over the global SDK providers, or note that there are none."""
    with STATE.ambient.lock:
        if _runtime.current is not None:
            return _runtime.current
        seen = _runtime.global_providers()
        tracer_provider = trace.get_tracer_provider()
        meter_provider = metrics.get_meter_provider()
        if not STATE.ambient.allowed or _ours(tracer_provider, meter_provider):
            _runtime.mark_quiet(*seen)
            return None
        if is_placeholder(tracer_provider) and is_placeholder(meter_provider):
            _warn_nothing_records()
            _runtime.mark_quiet(*seen)
            return None
        settings = _settings_from_environment()
        if settings.disabled:  # OTEL_SDK_DISABLED: the SDK's own providers record nothing
            _runtime.mark_quiet(*seen)
            return None
        runtime = _runtime.Runtime(
            tracer_provider.get_tracer(INSTRUMENTATION_SCOPE, VERSION),
            meter_provider.get_meter(INSTRUMENTATION_SCOPE, VERSION),
            settings,
        )
        _runtime.install(runtime)
    logger.info(
        "autobot-apm: recording through the OpenTelemetry providers this process installed "
        "(%s, %s); autobot_apm.configure() was not called",
        type(tracer_provider).__name__,
        type(meter_provider).__name__,
    )
    return runtime


def _ours(*providers: object) -> bool:
    """Providers configure() made global are no application's, even after shutdown()."""
    return any(provider in STATE.installed_globally for provider in providers)


def _settings_from_environment() -> Settings:
    """The OTEL_*/AUTOBOT_APM_* settings; defaults if the environment holds a bad value
    (a tracked call must not fail, and configure() is where such values are reported)."""
    try:
        return resolve({})
    except ConfigurationError as exc:
        logger.warning("autobot-apm: %s; using the defaults for every setting", exc)
        return resolve({}, environ={})


def _warn_nothing_records() -> None:
    if not STATE.ambient.warned:
        STATE.ambient.warned = True
        logger.warning(NOTHING_RECORDS)


def stop() -> None:
    """configure() or shutdown() ran: the process's own providers are not adopted any more."""
    STATE.ambient.allowed = False
    _runtime.forget_quiet()  # the next tracked call re-reads the globals


def reset_after_fork() -> None:
    """In a forked child: a new lock (the parent's copy may be held)."""
    STATE.ambient.lock = threading.Lock()


_runtime.set_adopter(adopt_process_providers)


# What configure() cannot change on a provider it adopts, and why, by setting.
_RESOURCE = "the installed providers keep their own resource"
_TRACER_ONLY = {
    "traces_sampler": "the installed TracerProvider keeps its own sampler",
    "sample_ratio": "the installed TracerProvider keeps its own sampler",
    "span_queue_size": "the installed TracerProvider keeps its own span processors",
    "span_batch_size": "the installed TracerProvider keeps its own span processors",
    "span_schedule_delay": "the installed TracerProvider keeps its own span processors",
}
_METER_ONLY = {
    "metric_export_interval": "the installed MeterProvider keeps its own metric readers",
}
_BOTH = {
    "service_name": _RESOURCE,
    "service_version": _RESOURCE,
    "environment": _RESOURCE,
    "resource_attributes": _RESOURCE,
    "exporter": "the installed providers keep their own exporters",
    "protocol": "the installed providers keep their own exporters",
    "endpoint": "the installed providers keep their own exporters",
    "headers": "the installed providers keep their own exporters",
    "timeout": "the installed providers keep their own exporters",
}


def unapplied_settings(
    settings: Settings, tracer_adopted: bool, meter_adopted: bool
) -> dict[str, str]:
    """Settings given to configure() that an adopted provider makes moot, with the reason.

    Only values autobot-apm alone would have applied count: arguments and AUTOBOT_APM_*
    variables. An OTEL_* variable is read by the SDK itself (and by
    ``opentelemetry-instrument``), so it may well be in effect.
    """
    reasons: dict[str, str] = {}
    if tracer_adopted or meter_adopted:
        reasons.update(_BOTH)
    if tracer_adopted:
        reasons.update(_TRACER_ONLY)
    if meter_adopted:
        reasons.update(_METER_ONLY)
    return {
        name: reason
        for name, reason in reasons.items()
        if not settings.sources[name].startswith(("default", "OTEL_"))
    }


def log_unapplied_settings(settings: Settings, tracer_adopted: bool, meter_adopted: bool) -> None:
    """One INFO line naming what configure() could not apply to providers it adopted."""
    unapplied = unapplied_settings(settings, tracer_adopted, meter_adopted)
    if not unapplied:
        return
    adopted = [name for name, yes in (("TracerProvider", tracer_adopted),
                                       ("MeterProvider", meter_adopted)) if yes]  # fmt: skip
    logger.info(
        "autobot-apm: configure() uses the %s this process already installed, as it is; "
        "settings not applied: %s",
        " and ".join(adopted),
        "; ".join(f"{name} ({reason})" for name, reason in sorted(unapplied.items())),
    )
