"""Logs that join traces: trace context on every ``logging`` record, and OTLP export.

``configure(logging=True)`` stamps every standard ``logging`` record with the current
trace id, span id and service name; :data:`LOG_FORMAT` (or
:class:`TraceContextFormatter`) prints them as ``trace_id=... span_id=...
service.name=...``. ``configure(logging="otlp")`` also sends the records that reach the
root logger's handlers to the configured OTLP endpoint, each carrying its span's ids.

The record attributes are the ones ``opentelemetry-instrumentation-logging`` uses
(``otelTraceID``, ``otelSpanID``, ``otelServiceName``, ``otelTraceSampled``): existing
log formats keep working, and they cannot collide with an application's own
``extra={"trace_id": ...}``, which ``logging`` would refuse with a KeyError.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider as ApiLoggerProvider
from opentelemetry._logs import SeverityNumber, get_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource

from .._tracking.attributes import coerce_attributes
from .._tracking.errors import report_internal_error
from . import exporters as _exporters
from .parsers.values import parse_logging
from .settings import Settings
from .state import STATE, on_reset

logger = logging.getLogger("autobot_apm")

TRACE_ID, SPAN_ID = "otelTraceID", "otelSpanID"
SERVICE_NAME, TRACE_SAMPLED = "otelServiceName", "otelTraceSampled"
STAMPS = (TRACE_ID, SPAN_ID, SERVICE_NAME, TRACE_SAMPLED)
LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s "
    "service.name=%(otelServiceName)s] %(message)s"
)
NO_TRACE_ID, NO_SPAN_ID = "0" * 32, "0" * 16
# Records from these loggers are never exported: a failing export logs through them, and
# exporting those records would feed the failure back into itself.
QUIET_LOGGERS = ("opentelemetry", "autobot_apm")
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_RESERVED = _RECORD_FIELDS | {"message", "asctime", *STAMPS}  # the rest came from extra=


# --- trace context on records --------------------------------------------------------


def stamp(record: logging.LogRecord) -> logging.LogRecord:
    """Put the current trace id, span id and service name on ``record``."""
    context = trace.get_current_span().get_span_context()
    valid = context.is_valid
    record.__dict__.update({
        TRACE_ID: format(context.trace_id, "032x") if valid else NO_TRACE_ID,
        SPAN_ID: format(context.span_id, "016x") if valid else NO_SPAN_ID,
        TRACE_SAMPLED: valid and context.trace_flags.sampled,
        SERVICE_NAME: service_name(),
    })  # fmt: skip
    return record


def service_name() -> str:
    """The name given to instrument_logging(), else the resource's (OTEL_SERVICE_NAME)."""
    name: str | None = STATE.logs.service_name
    if name is None:
        name = str(Resource.create({}).attributes.get("service.name", "unknown_service"))
        STATE.logs.service_name = name
    return name


class TraceContextFilter(logging.Filter):
    """Stamp records passing a handler or logger, when the record factory did not."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, TRACE_ID):
            stamp(record)
        return True


class TraceContextFormatter(logging.Formatter):
    """A formatter whose default format shows the trace context (:data:`LOG_FORMAT`)."""

    def __init__(self, fmt: str | None = LOG_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, TRACE_ID):
            stamp(record)
        return super().format(record)


def instrument_logging(*, service_name: str | None = None) -> None:
    """Stamp every ``logging`` record made from now on with the trace context."""
    state = STATE.logs
    with state.lock:
        if service_name is not None:
            state.service_name = service_name
        if not state.in_chain:
            state.wrapped = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_stamping_factory)
            state.in_chain = True
        state.active = True


def uninstrument_logging() -> None:
    """Stop stamping records; restores the record factory that was there before."""
    state = STATE.logs
    with state.lock:
        state.active = False
        # Another library may have wrapped our factory since: ours then stays in its
        # chain, passing records through unchanged, and is reused by the next instrument.
        if state.in_chain and logging.getLogRecordFactory() is _stamping_factory:
            logging.setLogRecordFactory(state.wrapped or logging.LogRecord)
            state.in_chain = False


def _stamping_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    state = STATE.logs
    # No factory remembered: ours outlived a reset() inside another library's chain.
    record: logging.LogRecord = (state.wrapped or logging.LogRecord)(*args, **kwargs)
    return stamp(record) if state.active else record


on_reset(uninstrument_logging)


# --- OTLP export ---------------------------------------------------------------------


class OTLPLogHandler(logging.Handler):
    """Send ``logging`` records through an OpenTelemetry logger provider.

    The SDK's own ``LoggingHandler`` is deprecated in favour of a contrib package; this
    one is small and never exports the records of the export machinery itself.
    """

    def __init__(self, provider: ApiLoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.provider = provider
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(QUIET_LOGGERS) or getattr(self._busy, "active", False):
            return
        self._busy.active = True
        try:
            self._emit(record)
        except Exception as exc:
            report_internal_error("logs.emit", exc)
        finally:
            self._busy.active = False

    def _emit(self, record: logging.LogRecord) -> None:
        exception = record.exc_info[1] if record.exc_info else None
        self.provider.get_logger(record.name).emit(
            timestamp=int(record.created * 1e9),
            observed_timestamp=time.time_ns(),
            severity_number=severity_number(record.levelno),
            severity_text=SEVERITY_TEXT.get(record.levelname, record.levelname),
            body=record.getMessage(),
            attributes=record_attributes(record),
            exception=exception,
        )


# The OpenTelemetry log data model's short names for two Python levels.
SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_SEVERITY_BANDS = ((50, 21), (40, 17), (30, 13), (20, 9), (10, 5))


def severity_number(levelno: int) -> SeverityNumber:
    """Python level to OpenTelemetry severity: INFO=9, WARNING=13, levels between step up."""
    for floor, base in _SEVERITY_BANDS:
        if levelno >= floor:
            return SeverityNumber(base + min(levelno - floor, 3))
    return SeverityNumber.TRACE if levelno > 0 else SeverityNumber.UNSPECIFIED


def record_attributes(record: logging.LogRecord) -> dict[str, Any]:
    """Where the record was made, plus the ``extra=`` fields the application added."""
    extra = {key: value for key, value in vars(record).items() if key not in _RESERVED}
    return {
        **coerce_attributes(extra),
        "code.file.path": record.pathname,
        "code.function.name": record.funcName,
        "code.line.number": record.lineno,
    }


@dataclass
class LoggingSetup:
    """What setup_logging() attached; ``provider`` is set when this library owns it."""

    handler: OTLPLogHandler | None
    provider: LoggerProvider | None
    owns_factory: bool


def setup_logging(settings: Settings, resource: Resource) -> LoggingSetup | None:
    """Apply the ``logging`` setting; called by configure(). None when it is off."""
    mode = parse_logging("logging", settings.logging)
    if mode == "off":
        return None
    setup = LoggingSetup(None, None, owns_factory=not STATE.logs.active)
    instrument_logging(service_name=str(resource.attributes.get("service.name", "")) or None)
    if mode == "otlp" and _exports_otlp(settings) and not _application_exports_logs():
        try:
            setup.provider, setup.handler = _export_records(settings, resource)
        except Exception as exc:  # e.g. a malformed OTEL_EXPORTER_OTLP_LOGS_* variable
            report_internal_error("logs.setup", exc)
    return setup


def rebuild_after_fork(
    setup: LoggingSetup | None, settings: Settings, resource: Resource
) -> LoggerProvider | None:
    """In a forked child: our handler exports through a provider of the child's own.

    The inherited provider's batch processor and exporter were copied mid-operation
    (its connection is the parent's); the handler is ours and only it uses that
    provider, so the handler gets a new one, with the child's ``resource``. Returns the
    inherited provider, which the caller keeps (unused) for the child's life. A provider
    the application installed is the application's, and stays.
    """
    if setup is None or setup.provider is None or setup.handler is None:
        return None
    inherited = setup.provider
    setup.provider = _logger_provider(settings, resource)
    setup.handler.provider = setup.provider
    return inherited


def reset_after_fork() -> None:
    """In a forked child: a new lock (the parent's copy may be held)."""
    STATE.logs.lock = threading.Lock()


def shutdown_logging(setup: LoggingSetup | None) -> None:
    """Detach what setup_logging() attached; the caller flushes ``setup.provider``."""
    if setup is None:
        return
    if setup.handler is not None:
        logging.getLogger().removeHandler(setup.handler)
    if setup.owns_factory:
        uninstrument_logging()


def log_exporter(settings: Settings) -> LogRecordExporter:
    """The OTLP log exporter for the configured protocol, endpoint and headers."""
    if settings.protocol == "grpc":
        from .grpc_exporters import GrpcLogExporter

        return GrpcLogExporter(**_exporters._grpc_arguments(settings))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HTTPLogExporter,
    )

    return HTTPLogExporter(**_exporters._http_arguments(settings, "logs"))


def _export_records(
    settings: Settings, resource: Resource
) -> tuple[LoggerProvider | None, OTLPLogHandler]:
    """Attach a handler to the root logger; the provider returned is ours to shut down."""
    provider = get_logger_provider()
    if isinstance(provider, LoggerProvider):  # the application's SDK provider wins
        return None, _attach(OTLPLogHandler(provider))
    owned = _logger_provider(settings, resource)
    return owned, _attach(OTLPLogHandler(owned))


def _logger_provider(settings: Settings, resource: Resource) -> LoggerProvider:
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    if _exporters.exporter_kind(settings) != "otlp":  # a forked child exporting nothing
        return provider
    processor = BatchLogRecordProcessor(
        log_exporter(settings), export_timeout_millis=settings.timeout * 1000
    )
    provider.add_log_record_processor(processor)
    return provider


def _exports_otlp(settings: Settings) -> bool:
    """Logs go where traces go; with no OTLP destination they are only stamped."""
    if _exporters.exporter_kind(settings) == "otlp":
        return True
    logger.warning("autobot-apm: logging='otlp' needs an OTLP endpoint; log export is off")
    return False


def _application_exports_logs() -> bool:
    """An OpenTelemetry logging handler already on the root logger: do not export twice."""
    return any(
        type(handler).__module__.startswith("opentelemetry")
        for handler in logging.getLogger().handlers
    )


def _attach(handler: OTLPLogHandler) -> OTLPLogHandler:
    root = logging.getLogger()
    for stale in [h for h in root.handlers if isinstance(h, OTLPLogHandler)]:
        root.removeHandler(stale)  # left by a configure() that was never shut down
    root.addHandler(handler)
    return handler
