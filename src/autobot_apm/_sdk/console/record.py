"""The neutral span record the console views draw from.

Two very different sources feed the same renderer: spans that just ended in this
process (the SDK's ``ReadableSpan``) and spans decoded from OTLP by the demo's
receiver. Both are reduced to the same field names, so the renderer takes anything
shaped like :class:`SpanRecord`; :class:`SpanView` is the in-process implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


class SpanRecord(Protocol):
    """What the renderer reads from a span; ``SpanView`` and the receiver's spans fit it."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def parent_span_id(self) -> str | None: ...
    @property
    def start_ns(self) -> int: ...
    @property
    def end_ns(self) -> int | None: ...
    @property
    def attributes(self) -> Mapping[str, object]: ...
    @property
    def resource(self) -> Mapping[str, object]: ...
    @property
    def status_code(self) -> str: ...
    @property
    def status_message(self) -> str | None: ...
    @property
    def events(self) -> Sequence[object]: ...


@dataclass(frozen=True)
class SpanEventView:
    """One span event (an exception, a slow-operation marker) in neutral form."""

    name: str
    timestamp_ns: int
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SpanView:
    """A finished (or still running, ``end_ns=None``) span in plain values.

    Ids are lowercase hex as in W3C ``traceparent`` (32 digits for a trace, 16 for a
    span); ``kind`` and ``status_code`` are the OTLP enum names without prefix
    (``"SERVER"``, ``"ERROR"``); ``resource`` holds ``service.name``.
    """

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int | None
    attributes: Mapping[str, object]
    resource: Mapping[str, object]
    status_code: str
    status_message: str | None
    events: tuple[SpanEventView, ...] = ()

    @classmethod
    def from_readable_span(cls, span: ReadableSpan) -> SpanView:
        """Copy what the console shows out of an SDK span that has ended."""
        context = span.context
        parent = span.parent
        return cls(
            name=span.name,
            kind=span.kind.name,
            trace_id=format(context.trace_id if context else 0, "032x"),
            span_id=format(context.span_id if context else 0, "016x"),
            parent_span_id=format(parent.span_id, "016x") if parent else None,
            start_ns=span.start_time or 0,
            end_ns=span.end_time,
            attributes=dict(span.attributes or {}),
            resource=dict(span.resource.attributes),
            status_code=span.status.status_code.name,
            status_message=span.status.description,
            events=tuple(
                SpanEventView(event.name, event.timestamp, dict(event.attributes or {}))
                for event in span.events
            ),
        )
