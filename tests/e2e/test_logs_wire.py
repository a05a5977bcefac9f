"""configure(logging="otlp") end to end: log records reach a loopback OTLP receiver."""

import logging

import pytest

import autobot_apm as apm
from autobot_apm._sdk.logs import OTLPLogHandler
from autobot_apm.operation import track_operation
from autobot_apm.receiver import OTLPReceiver
from support import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture
def app_logger():
    logger = logging.getLogger("wire.app")
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(logging.NOTSET)


def _configure(**settings):
    apm.configure(service_name="logs-wire", logging="otlp", metric_export_interval=3600,
                  **settings)  # fmt: skip


def _log_inside_a_tracked_call(logger):
    with track_operation("ingest") as op:
        logger.info("ingested %d clips", 3)
    return op


class TestExport:
    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_record_carries_the_span(self, receiver, app_logger, protocol):
        """The record logged in a tracked call arrives with that span's ids and service."""
        endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
        _configure(endpoint=endpoint, protocol=protocol)
        try:
            op = _log_inside_a_tracked_call(app_logger)
        finally:
            assert apm.shutdown(timeout=10)
        (record,) = receiver.wait_for_logs(1)
        assert (op.trace_id, op.span_id) == (record.trace_id, record.span_id)
        assert ("ingested 3 clips", "INFO") == (record.body, record.severity_text)
        assert "logs-wire" == record.resource["service.name"]
        assert "wire.app" == record.scope
        (span,) = receiver.wait_for_spans(1)
        assert (span.trace_id, span.span_id) == (record.trace_id, record.span_id)

    def test_reconfiguring_never_doubles_the_handler(self, receiver, app_logger):
        """configure() after shutdown() exports each record once, through one handler."""
        for _ in range(2):
            _configure(endpoint=receiver.http_endpoint)
            assert apm.shutdown(timeout=10)
        _configure(endpoint=receiver.http_endpoint)
        try:
            handlers = [h for h in logging.getLogger().handlers if isinstance(h, OTLPLogHandler)]
            assert 1 == len(handlers)
            app_logger.warning("once")
        finally:
            assert apm.shutdown(timeout=10)
        assert ["once"] == [record.body for record in receiver.wait_for_logs(1)]
        assert [] == [h for h in logging.getLogger().handlers if isinstance(h, OTLPLogHandler)]

    def test_failing_collector_does_not_feed_back(self, receiver, app_logger, caplog):
        """Export failures are logged by the exporter, never exported as new records."""
        receiver.mode = "error"
        _configure(endpoint=receiver.http_endpoint, timeout=1)
        try:
            app_logger.error("lost")
            wait_until(lambda: _log_requests(receiver), what="a log export request")
            wait_until(lambda: _exporter_records(caplog), what="the exporter logging its failure")
        finally:
            apm.shutdown(timeout=3)
        assert [1] == [request.item_count for request in _log_requests(receiver)]


def _log_requests(receiver):
    return [request for request in receiver.requests if request.signal == "logs"]


def _exporter_records(caplog):
    """What OpenTelemetry's own loggers said (the failed export, among others)."""
    return [record for record in caplog.records if record.name.startswith("opentelemetry")]
