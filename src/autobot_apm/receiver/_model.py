"""What the receiver keeps of each export: plain, immutable Python records.

The records mirror OTLP closely enough to check telemetry on the wire, and no more:
ids are lower-case hex strings, enums are their short names ("SERVER", "ERROR"),
attribute values are Python values (arrays become tuples, maps become dicts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Protocol = Literal["grpc", "http"]
Signal = Literal["traces", "metrics", "logs"]

# How a transport hands over one export request: (protocol, signal, body, headers) -> the
# fault mode to answer with ("ok", ..., or "invalid" for a body that does not decode).
Receive = Callable[[Protocol, Signal, bytes, dict[str, str]], str]


class ReceivedEvent(NamedTuple):
    """A span event."""

    name: str
    attributes: dict[str, Any]
    time_ns: int = 0


class ReceivedLink(NamedTuple):
    """A link from a span to another span context."""

    trace_id: str
    span_id: str
    attributes: dict[str, Any]


class ReceivedExemplar(NamedTuple):
    """A measurement sampled together with the span it was recorded in."""

    trace_id: str | None
    span_id: str | None
    value: int | float


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as it arrived."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status_code: str
    status_message: str
    events: tuple[ReceivedEvent, ...]
    links: tuple[ReceivedLink, ...]
    protocol: Protocol

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True, slots=True)
class ReceivedPoint:
    """One data point of a metric.

    ``value`` is set for sums and gauges; ``count``, ``sum``, ``min``, ``max`` and the
    buckets for histograms (exponential histograms and summaries carry count and sum).
    """

    attributes: dict[str, Any]
    time_ns: int
    start_time_ns: int = 0
    value: int | float | None = None
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    exemplars: tuple[ReceivedExemplar, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceivedMetric:
    """One metric from one export; a cumulative metric exported twice arrives twice.

    ``kind`` is "sum", "gauge", "histogram", "exponential_histogram" or "summary";
    ``temporality`` is "cumulative", "delta" or "unspecified" (gauges, summaries).
    """

    name: str
    description: str
    unit: str
    kind: str
    monotonic: bool
    temporality: str
    resource: dict[str, Any]
    scope: str
    points: tuple[ReceivedPoint, ...]
    protocol: Protocol


@dataclass(frozen=True, slots=True)
class ReceivedLog:
    """One log record; ``trace_id``/``span_id`` are None outside a span."""

    body: Any
    severity_text: str
    severity_number: int
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    resource: dict[str, Any]
    scope: str
    time_ns: int
    observed_time_ns: int
    event_name: str
    protocol: Protocol


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One export request, whatever the receiver answered.

    ``headers`` have lower-case names (gRPC binary metadata is base64, as on the
    wire); ``item_count`` counts spans, metric data points or log records; ``mode``
    is the fault mode that answered it, or "invalid" for an undecodable body.
    """

    protocol: Protocol
    signal: Signal
    headers: dict[str, str]
    item_count: int
    mode: str


@dataclass(frozen=True, slots=True)
class Batch:
    """The decoded content of one export request."""

    spans: tuple[ReceivedSpan, ...] = ()
    metrics: tuple[ReceivedMetric, ...] = ()
    logs: tuple[ReceivedLog, ...] = ()

    @property
    def item_count(self) -> int:
        points = sum(len(metric.points) for metric in self.metrics)
        return len(self.spans) + points + len(self.logs)
