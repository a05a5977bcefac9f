"""One span (OTLP ``Span``) as bytes, with its events, links and status.

Fields are written in field-number order, as protobuf writes them, and a field the SDK's
``_encode_span`` leaves at its default (an empty string, a zero count, no parent) is left
out, as protobuf leaves it out. The status is always there, even when empty; the flags
always carry "has is_remote", and "is remote" when the parent (for a link: the linked
context) is remote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from .values import AttributeWriter
from .wire import UnencodableError, append_text, delimited, text, timestamp, uint32

_KIND_NUMBERS = {
    SpanKind.INTERNAL: b"\x30\x01",
    SpanKind.SERVER: b"\x30\x02",
    SpanKind.CLIENT: b"\x30\x03",
    SpanKind.PRODUCER: b"\x30\x04",
    SpanKind.CONSUMER: b"\x30\x05",
}
# Span field 16 (fixed32) and Link field 6 (fixed32): SpanFlags' context bits.
_SPAN_FLAGS = b"\x85\x01\x00\x01\x00\x00"
_SPAN_FLAGS_REMOTE = b"\x85\x01\x00\x03\x00\x00"
_LINK_FLAGS = b"\x35\x00\x01\x00\x00"
_LINK_FLAGS_REMOTE = b"\x35\x00\x03\x00\x00"
# Status field 15 for the common statuses, those without a description.
_STATUS_BY_CODE = {0: b"\x7a\x00", 1: b"\x7a\x02\x18\x01", 2: b"\x7a\x02\x18\x02"}


def write_span(span: ReadableSpan, attributes: AttributeWriter) -> bytes:
    """The body of the ``Span`` message for ``span``."""
    context = span.get_span_context()
    if context is None:
        raise UnencodableError("a span without a context")
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
    ]
    _write_trace_state(context.trace_state, parts)
    parent = span.parent
    if parent:
        parts.append(b"\x22\x08")
        parts.append(parent.span_id.to_bytes(8, "big"))
    append_text(b"\x2a", span.name, parts)
    parts.append(_KIND_NUMBERS[span.kind])
    _write_timestamp(b"\x39", span.start_time, parts)
    _write_timestamp(b"\x41", span.end_time, parts)
    attributes.write(span.attributes, b"\x4a", parts)
    _write_count(b"\x50", span.dropped_attributes, parts)
    events = span.events
    if events:
        _write_events(events, attributes, parts)
    _write_count(b"\x60", span.dropped_events, parts)
    links = span.links
    if links:
        _write_links(links, attributes, parts)
    _write_count(b"\x70", span.dropped_links, parts)
    _write_status(span.status, parts)
    parts.append(_SPAN_FLAGS_REMOTE if parent and parent.is_remote else _SPAN_FLAGS)
    return b"".join(parts)


def _write_trace_state(trace_state: Any, parts: list[bytes]) -> None:
    if trace_state:
        joined = ",".join([f"{key}={value}" for key, value in trace_state.items()])
        append_text(b"\x1a", joined, parts)


def _write_timestamp(tag: bytes, value: object, parts: list[bytes]) -> None:
    """A fixed64 field, left out when ``None`` or zero; not an int: left to the SDK."""
    if value is None or (type(value) is int and value == 0):
        return
    parts.append(tag)
    parts.append(timestamp(value))


def _write_count(tag: bytes, value: object, parts: list[bytes]) -> None:
    """A uint32 field, left out when ``None`` or zero; not an int: left to the SDK."""
    if value is None or (type(value) is int and value == 0):
        return
    parts.append(tag)
    parts.append(uint32(value))


def _write_events(events: Sequence[Any], attributes: AttributeWriter, parts: list[bytes]) -> None:
    for event in events:
        body: list[bytes] = []
        _write_timestamp(b"\x09", event.timestamp, body)
        append_text(b"\x12", event.name, body)
        attributes.write(event.attributes, b"\x1a", body)
        _write_count(b"\x20", event.dropped_attributes, body)
        parts.append(b"\x5a")
        parts.append(delimited(b"".join(body)))


def _write_links(links: Sequence[Any], attributes: AttributeWriter, parts: list[bytes]) -> None:
    for link in links:
        context = link.context
        body = [
            b"\x0a\x10",
            context.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            context.span_id.to_bytes(8, "big"),
        ]
        attributes.write(link.attributes, b"\x22", body)
        _write_count(b"\x28", link.dropped_attributes, body)
        body.append(_LINK_FLAGS_REMOTE if context and context.is_remote else _LINK_FLAGS)
        parts.append(b"\x6a")
        parts.append(delimited(b"".join(body)))


def _write_status(status: Any, parts: list[bytes]) -> None:
    if status is None:
        return
    code = status.status_code.value
    description = status.description
    if not description:
        parts.append(_STATUS_BY_CODE.get(code) or b"\x7a" + delimited(_status_code(code)))
        return
    message = b"\x12" + delimited(text(description))
    parts.append(b"\x7a")
    parts.append(delimited(message + _status_code(code)))


def _status_code(code: object) -> bytes:
    return b"\x18" + uint32(code) if code else b""
