"""Trace context on logging records, the formatter, the OTLP handler and its set-up."""

import io
import logging

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from autobot_apm._sdk.logs import (
    LOG_FORMAT,
    OTLPLogHandler,
    TraceContextFilter,
    TraceContextFormatter,
    instrument_logging,
    parse_logging,
    setup_logging,
    severity_number,
    shutdown_logging,
    uninstrument_logging,
)
from autobot_apm._sdk.settings import resolve
from autobot_apm._sdk.state import STATE
from autobot_apm._tracking.errors import ConfigurationError
from autobot_apm.operation import track_operation
from autobot_apm.testing import Capture


@pytest.fixture(autouse=True)
def _restore_logging():
    factory, handlers = logging.getLogRecordFactory(), list(logging.getLogger().handlers)
    yield
    uninstrument_logging()
    logging.setLogRecordFactory(factory)
    logging.getLogger().handlers[:] = handlers


def _capturing_logger(name, handler):
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def _formatted_lines(name, formatter=None):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or logging.Formatter(LOG_FORMAT))
    return _capturing_logger(name, handler), stream


class TestRecordFactory:
    def test_records_carry_the_current_span(self, apm_capture: Capture):
        """Inside a tracked call every record carries its trace id, span id and service."""
        instrument_logging(service_name="media-worker")
        logger, stream = _formatted_lines("app.factory")
        with track_operation("ingest") as op:
            logger.info("ingesting")
        line = stream.getvalue()
        assert f"trace_id={op.trace_id} span_id={op.span_id}" in line
        assert "service.name=media-worker] ingesting" in line

    def test_outside_a_span_ids_are_zeros(self):
        """With no span in progress the ids are all zeros, never missing."""
        instrument_logging(service_name="svc")
        record = logging.makeLogRecord({})
        assert ("0" * 32, "0" * 16, False) == (
            record.otelTraceID, record.otelSpanID, record.otelTraceSampled)  # fmt: skip

    def test_extra_trace_id_of_the_application_still_works(self, apm_capture: Capture):
        """An application's own extra={"trace_id": ...} does not collide with ours."""
        instrument_logging()
        logger, stream = _formatted_lines("app.extra", logging.Formatter("%(trace_id)s"))
        with track_operation("x"):
            logger.warning("mine", extra={"trace_id": "legacy-7"})
        assert "legacy-7\n" == stream.getvalue()

    def test_instrumenting_twice_wraps_once(self):
        """A second instrument_logging() does not wrap the factory again."""
        original = logging.getLogRecordFactory()
        instrument_logging()
        instrument_logging()
        assert original is STATE.logs.wrapped
        uninstrument_logging()
        assert original is logging.getLogRecordFactory()
        assert not hasattr(logging.makeLogRecord({}), "otelTraceID")

    def test_a_factory_wrapped_around_ours_is_kept(self):
        """If another library wrapped our factory, uninstrumenting keeps its chain intact."""
        instrument_logging()
        ours = logging.getLogRecordFactory()
        seen = []

        def theirs(*args, **kwargs):
            seen.append(args[0])
            return ours(*args, **kwargs)

        logging.setLogRecordFactory(theirs)
        uninstrument_logging()
        assert not hasattr(logging.makeLogRecord({"name": "a"}), "otelTraceID")
        instrument_logging()
        assert hasattr(logging.makeLogRecord({"name": "b"}), "otelTraceID")
        assert theirs is logging.getLogRecordFactory()
        assert 2 == len(seen)


class TestFilterAndFormatter:
    def test_formatter_stamps_without_the_factory(self, apm_capture: Capture):
        """TraceContextFormatter shows the ids even when records were not stamped."""
        logger, stream = _formatted_lines("app.formatter", TraceContextFormatter())
        with track_operation("resize") as op:
            logger.error("too large")
        assert f"trace_id={op.trace_id} span_id={op.span_id}" in stream.getvalue()

    def test_filter_stamps_records_it_sees(self, apm_capture: Capture):
        """TraceContextFilter on a handler adds the ids to the records it passes."""
        logger, stream = _formatted_lines("app.filter", logging.Formatter("%(otelSpanID)s"))
        logger.handlers[0].addFilter(TraceContextFilter())
        with track_operation("resize") as op:
            logger.info("ok")
        assert f"{op.span_id}\n" == stream.getvalue()


class TestParseLogging:
    @pytest.mark.parametrize(
        ("value", "mode"),
        [(None, "off"), (False, "off"), ("false", "off"), (True, "ids"), ("1", "ids"),
         ("ids", "ids"), ("OTLP", "otlp"), (" otlp ", "otlp")],
    )  # fmt: skip
    def test_values(self, value, mode):
        """Booleans switch the stamping; 'otlp' also exports."""
        assert mode == parse_logging("logging", value)

    def test_unknown_value_names_the_setting(self):
        """A value that is none of those is a configuration error naming the setting."""
        with pytest.raises(ConfigurationError, match="logging='loki'"):
            parse_logging("logging", "loki")


def _in_memory_provider():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "mem"}),
                              shutdown_on_exit=False)  # fmt: skip
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


class TestOTLPLogHandler:
    def test_record_carries_span_body_severity_and_attributes(self, apm_capture: Capture):
        """An exported record has the span's ids, the message, severity and extras."""
        provider, exporter = _in_memory_provider()
        logger = _capturing_logger("app.otlp", OTLPLogHandler(provider))
        with track_operation("ingest") as op:
            logger.warning("%d frames dropped", 3, extra={"clip": "c-1"})
        (exported,) = exporter.get_finished_logs()
        record = exported.log_record
        assert (op.trace_id, op.span_id) == (f"{record.trace_id:032x}", f"{record.span_id:016x}")
        assert ("3 frames dropped", "WARN") == (record.body, record.severity_text)
        assert SeverityNumber.WARN == record.severity_number
        assert "c-1" == record.attributes["clip"]
        assert "otelTraceID" not in record.attributes
        assert "app.otlp" == exported.instrumentation_scope.name

    def test_exception_is_recorded(self):
        """logger.exception() exports the exception's type."""
        provider, exporter = _in_memory_provider()
        logger = _capturing_logger("app.exc", OTLPLogHandler(provider))
        try:
            raise KeyError("frame")
        except KeyError:
            logger.exception("lost")
        (exported,) = exporter.get_finished_logs()
        assert "KeyError" == exported.log_record.attributes["exception.type"]

    @pytest.mark.parametrize("name", ["opentelemetry.exporter.otlp", "autobot_apm"])
    def test_own_records_are_not_exported(self, name):
        """Records of the export machinery and of this library never go out."""
        provider, exporter = _in_memory_provider()
        _capturing_logger(name, OTLPLogHandler(provider)).error("export failed")
        assert () == tuple(exporter.get_finished_logs())

    def test_logging_while_exporting_does_not_loop(self):
        """A record logged while a record is exported is dropped, not exported again."""

        class Chatty(LogRecordProcessor):
            def on_emit(self, log_record):
                logging.getLogger("app.loop").error("while exporting")

            def shutdown(self):
                pass

            def force_flush(self, timeout_millis=30000):
                return True

        provider, exporter = _in_memory_provider()
        provider.add_log_record_processor(Chatty())
        _capturing_logger("app.loop", OTLPLogHandler(provider)).error("first")
        assert ["first"] == [log.log_record.body for log in exporter.get_finished_logs()]

    @pytest.mark.parametrize(
        ("level", "number"),
        [(0, 0), (5, 1), (10, 5), (20, 9), (25, 12), (30, 13), (40, 17), (50, 21), (60, 24)],
    )
    def test_severity_numbers(self, level, number):
        """Python levels map onto the OpenTelemetry severity ranges."""
        assert number == severity_number(level).value


def _settings(**values):
    return resolve({"metric_export_interval": 3600, **values}, environ={})


def _resource():
    return Resource.create({"service.name": "setup-test"})


def _our_handlers():
    return [h for h in logging.getLogger().handlers if isinstance(h, OTLPLogHandler)]


class TestSetup:
    def test_off_does_nothing(self):
        """With the setting unset, records are not stamped and no handler is added."""
        factory = logging.getLogRecordFactory()
        assert None is setup_logging(_settings(), _resource())
        assert factory is logging.getLogRecordFactory()

    def test_true_stamps_with_the_resource_service_name(self):
        """logging=True stamps records with service.name; shutdown stops stamping."""
        setup = setup_logging(_settings(logging=True), _resource())
        assert "setup-test" == logging.makeLogRecord({}).otelServiceName
        assert [] == _our_handlers()
        shutdown_logging(setup)
        assert not hasattr(logging.makeLogRecord({}), "otelServiceName")

    def test_otlp_adds_one_handler_however_often_it_is_set_up(self):
        """A repeated set-up replaces the handler; shutdown removes it."""
        settings = _settings(logging="otlp", endpoint="http://127.0.0.1:9", protocol="grpc")
        first = setup_logging(settings, _resource())
        second = setup_logging(settings, _resource())
        try:
            assert [second.handler] == _our_handlers()
        finally:
            shutdown_logging(second)
            first.provider.shutdown()
            second.provider.shutdown()
        assert [] == _our_handlers()

    def test_otlp_without_an_endpoint_only_stamps(self, caplog):
        """With traces going to the console there is nowhere to send logs: say so."""
        with caplog.at_level(logging.WARNING, "autobot_apm"):
            setup = setup_logging(_settings(logging="otlp"), _resource())
        assert (None, None) == (setup.handler, setup.provider)
        assert "needs an OTLP endpoint" in caplog.text

    def test_an_opentelemetry_handler_on_root_is_respected(self):
        """When the application already bridges logging to OpenTelemetry, add nothing."""
        module = {"__module__": "opentelemetry.instrumentation.logging.handler"}
        theirs = type("LoggingHandler", (logging.Handler,), module)()
        logging.getLogger().addHandler(theirs)
        settings = _settings(logging="otlp", endpoint="http://127.0.0.1:9")
        setup = setup_logging(settings, _resource())
        assert None is setup.handler
        assert [] == _our_handlers()
