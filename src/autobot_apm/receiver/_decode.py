"""Turn OTLP export requests (protobuf bytes) into the records of ``_model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from ._metrics import decode_metrics_request
from ._model import Batch, Protocol, ReceivedEvent, ReceivedLink, ReceivedLog, ReceivedSpan
from ._values import decode_attributes, decode_value, hex_id

# Index = the protobuf enum number.
SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


class MalformedRequestError(ValueError):
    """The body of an export request is not the protobuf message of its signal."""


def decode_request(signal: str, payload: bytes, protocol: Protocol) -> Batch:
    """Decode one export request of ``signal`` ("traces", "metrics" or "logs")."""
    try:
        return DECODERS[signal](payload, protocol)
    except DecodeError as exc:
        raise MalformedRequestError(f"not an OTLP {signal} request: {exc}") from None


def _decode_traces(payload: bytes, protocol: Protocol) -> Batch:
    request = ExportTraceServiceRequest.FromString(payload)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            spans.extend(
                _decode_span(span, resource, scope, protocol) for span in scope_spans.spans
            )
    return Batch(spans=tuple(spans))


def _decode_span(
    span: Span, resource: dict[str, Any], scope: str, protocol: Protocol
) -> ReceivedSpan:
    return ReceivedSpan(
        name=span.name,
        kind=_enum_name(SPAN_KINDS, span.kind),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=hex_id(span.parent_span_id),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=decode_attributes(span.attributes),
        resource=dict(resource),
        scope=scope,
        status_code=_enum_name(STATUS_CODES, span.status.code),
        status_message=span.status.message,
        events=tuple(
            ReceivedEvent(event.name, decode_attributes(event.attributes), event.time_unix_nano)
            for event in span.events
        ),
        links=tuple(
            ReceivedLink(
                link.trace_id.hex(), link.span_id.hex(), decode_attributes(link.attributes)
            )
            for link in span.links
        ),
        protocol=protocol,
    )


def _enum_name(names: tuple[str, ...], number: int) -> str:
    # A newer sender may use a number this table does not know yet: keep it visible.
    return names[number] if 0 <= number < len(names) else str(number)


def _decode_logs(payload: bytes, protocol: Protocol) -> Batch:
    request = ExportLogsServiceRequest.FromString(payload)
    logs: list[ReceivedLog] = []
    for resource_logs in request.resource_logs:
        resource = decode_attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            logs.extend(
                _decode_log(record, resource, scope, protocol) for record in scope_logs.log_records
            )
    return Batch(logs=tuple(logs))


def _decode_log(
    record: LogRecord, resource: dict[str, Any], scope: str, protocol: Protocol
) -> ReceivedLog:
    return ReceivedLog(
        body=decode_value(record.body),
        severity_text=record.severity_text,
        severity_number=int(record.severity_number),
        attributes=decode_attributes(record.attributes),
        trace_id=hex_id(record.trace_id),
        span_id=hex_id(record.span_id),
        resource=dict(resource),
        scope=scope,
        time_ns=record.time_unix_nano,
        observed_time_ns=record.observed_time_unix_nano,
        event_name=record.event_name,
        protocol=protocol,
    )


DECODERS: dict[str, Callable[[bytes, Protocol], Batch]] = {
    "traces": _decode_traces,
    "metrics": decode_metrics_request,
    "logs": _decode_logs,
}
