"""Decoding of OTLP messages the SDK rarely or never sends: summaries, unknown enums, nesting."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Metric,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from autobot_apm.receiver._decode import MalformedRequestError, decode_request
from autobot_apm.receiver._values import decode_value


def metrics_request(*metrics: Metric) -> bytes:
    scope = ScopeMetrics(metrics=list(metrics))
    request = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[scope])])
    return bytes(request.SerializeToString())


class TestValues:
    def test_nested_array_and_map(self):
        """Arrays nest as tuples and key-value lists as dicts, at any depth."""
        inner = AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(bool_value=True))])
        )
        value = AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), inner]))
        assert (1, {"k": True}) == decode_value(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (AnyValue(string_value=""), ""),
            (AnyValue(int_value=0), 0),
            (AnyValue(double_value=-1.5), -1.5),
            (AnyValue(bytes_value=b""), b""),
            (AnyValue(), None),
        ],
    )
    def test_zero_values_keep_their_type(self, value, expected):
        """A set-but-empty value differs from no value at all."""
        decoded = decode_value(value)
        assert (expected, type(expected)) == (decoded, type(decoded))


class TestMetrics:
    def test_summary_keeps_count_and_sum(self):
        """A summary point (never made by the Python SDK) arrives with count and sum."""
        point = SummaryDataPoint(count=4, sum=10.0, time_unix_nano=9)
        metric = Metric(name="rpc.latency", summary=Summary(data_points=[point]))
        (received,) = decode_request("metrics", metrics_request(metric), "grpc").metrics
        assert ("summary", "unspecified") == (received.kind, received.temporality)
        assert (4, 10.0, 9) == (
            received.points[0].count,
            received.points[0].sum,
            received.points[0].time_ns,
        )

    def test_metric_without_data(self):
        """A metric with no data is kept, with kind "empty" and no points."""
        (received,) = decode_request(
            "metrics", metrics_request(Metric(name="void")), "http"
        ).metrics
        assert ("empty", ()) == (received.kind, received.points)


class TestEnumsAndIds:
    def test_unknown_span_kind_and_status_are_shown_as_numbers(self):
        """Enum numbers this receiver does not know are kept visible, not dropped."""
        span = Span(name="s", kind=9, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
        span.status.code = 7
        request = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
        )
        (received,) = decode_request("traces", request.SerializeToString(), "grpc").spans
        assert ("9", "7") == (received.kind, received.status_code)
        assert ("01" * 16, "02" * 8, None) == (
            received.trace_id,
            received.span_id,
            received.parent_span_id,
        )

    def test_log_ids_are_hex_or_none(self):
        """A log record's ids are hex when set and None when empty."""
        records = [LogRecord(trace_id=b"\xab" * 16, span_id=b"\xcd" * 8), LogRecord()]
        request = ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
        )
        logs = decode_request("logs", request.SerializeToString(), "http").logs
        assert [("ab" * 16, "cd" * 8), (None, None)] == [
            (log.trace_id, log.span_id) for log in logs
        ]

    def test_bytes_of_another_message_are_malformed(self):
        """Truncated protobuf raises MalformedRequestError naming the signal."""
        with pytest.raises(MalformedRequestError, match="logs"):
            decode_request("logs", b"\x0a\x7f", "grpc")
