"""track_message: queues and message buses, with the trace carried inside the message.

Names follow the messaging semantic conventions (development status, SEMCONV.md 8):

* span ``{operation name} {destination}``; kind PRODUCER for ``create``/``send``,
  CONSUMER for ``process``, CLIENT for ``receive``/``settle``;
* attributes ``messaging.system``, ``messaging.destination.name``,
  ``messaging.operation.name``, ``messaging.operation.type``, ``error.type``, and when
  given ``messaging.message.id`` (span only), ``server.address``, ``server.port``;
* histograms ``messaging.process.duration`` (``process``) and
  ``messaging.client.operation.duration`` (every other operation), in seconds.

A sender writes its span's context into the message; the receiver's ``process`` span
continues that trace as a child *and* links to the sending span: the convention asks for
the link, while the parent keeps sender and receiver in one trace, as a request chain is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from ._tracking.attributes import OTHER, integer_argument, text_argument
from ._tracking.dispatch import target_name
from ._tracking.handle import Operation
from ._tracking.options import NO_EXTRAS, ExtraAttributes, MetricValue, extra_attributes, is_bare
from ._tracking.runtime import HTTP_DURATION_BUCKETS, MetricSpec, Runtime
from ._tracking.tracker import Tracker
from .propagation import extract, inject

__all__ = ["MessageOperation", "track_message"]

F = TypeVar("F")

# The messaging metrics use the same boundaries as the HTTP ones (messaging-metrics.md).
MESSAGING_CLIENT_DURATION = MetricSpec(
    "messaging.client.operation.duration", "histogram", "s",
    "Duration of messaging operations initiated by a producer or consumer client.",
    HTTP_DURATION_BUCKETS,
)  # fmt: skip
MESSAGING_PROCESS_DURATION = MetricSpec(
    "messaging.process.duration", "histogram", "s",
    "Duration of processing operations.", HTTP_DURATION_BUCKETS,
)  # fmt: skip

SPAN_KINDS: Final = {
    "create": SpanKind.PRODUCER,
    "send": SpanKind.PRODUCER,
    "receive": SpanKind.CLIENT,
    "process": SpanKind.CONSUMER,
    "settle": SpanKind.CLIENT,
}
# Operations that write the trace into the message, and those that read it back.
_WRITES_CARRIER: Final = frozenset({"create", "send"})


class MessageOperation(Operation):
    """A tracked messaging call. ``inject(payload)`` writes its trace into a message."""

    __slots__ = ()

    def inject(self, carrier: Any) -> Any:
        """Write this span's trace context into ``carrier`` (a dict or header list)."""
        return inject(carrier, trace.set_span_in_context(self.span))

    def _on_end(self, duration: float) -> None:
        tracker = self._tracker
        if self._runtime is not None and isinstance(tracker, MessageTracker):
            histogram = self._runtime.histogram(tracker.duration_metric)
            histogram.record(duration, self._metric_attributes)


class MessageTracker(Tracker[MessageOperation]):
    """What ``track_message(...)`` returns."""

    operation_class = MessageOperation

    def __init__(
        self,
        destination: object,
        *,
        system: object,
        operation: object,
        operation_name: object,
        carrier: Any,
        message_id: object,
        server_address: object,
        server_port: object,
        extras: ExtraAttributes = NO_EXTRAS,
    ) -> None:
        # Any value is accepted, also in a ``with`` at run time: text cut to a limit, a
        # port that is not a 64-bit int dropped, never raising.
        destination = text_argument(destination) or OTHER
        system = text_argument(system) or OTHER
        operation = text_argument(operation) or "process"
        operation_name, message_id, server_address = (
            text_argument(value) for value in (operation_name, message_id, server_address)
        )
        server_port = integer_argument(server_port)
        self.operation = operation
        self.carrier = carrier
        self.duration_metric = (
            MESSAGING_PROCESS_DURATION if operation == "process" else MESSAGING_CLIENT_DURATION
        )
        name = operation_name or operation
        metric_attributes = {
            "messaging.system": system,
            "messaging.destination.name": destination,
            "messaging.operation.name": name,
            "messaging.operation.type": operation if operation in SPAN_KINDS else None,
            "server.address": server_address,
            "server.port": server_port,
        }
        span_attributes = {**metric_attributes, "messaging.message.id": message_id}
        super().__init__(
            span_name=f"{name} {destination}",
            span_kind=SPAN_KINDS.get(operation, SpanKind.CLIENT),
            span_attributes={
                **extras.span,
                **{k: v for k, v in span_attributes.items() if v is not None},
            },
            metric_attributes={**extras.metric, **metric_attributes},
        )

    def _start(
        self, runtime: Runtime, parent_context: otel_context.Context | None
    ) -> MessageOperation:
        if self.carrier is None:
            return super()._start(runtime, parent_context)
        if self.operation in _WRITES_CARRIER:
            operation = super()._start(runtime, parent_context)
            operation.inject(self.carrier)
            return operation
        return self._start_from_message(runtime, parent_context)

    def _start_from_message(
        self, runtime: Runtime, parent_context: otel_context.Context | None
    ) -> MessageOperation:
        """Link to the span that sent the message; ``process`` also continues its trace."""
        current = otel_context.get_current() if parent_context is None else parent_context
        sending_span = trace.get_current_span(extract(self.carrier))
        links, parent = None, current
        if sending_span.get_span_context().is_valid:
            links = [Link(sending_span.get_span_context())]
            if self.operation == "process":
                parent = trace.set_span_in_context(sending_span, current)
        span = runtime.tracer.start_span(
            self.span_name,
            context=parent,
            kind=self.span_kind,
            attributes=self.span_attributes,
            links=links,
        )
        return MessageOperation(self, runtime, span, parent_context=parent_context)


@overload
def track_message(destination: F, /) -> F: ...
@overload
def track_message(
    destination: str,
    /,
    *,
    system: str = ...,
    operation: str = ...,
    operation_name: str | None = ...,
    carrier: Any = ...,
    message_id: str | None = ...,
    server_address: str | None = ...,
    server_port: int | None = ...,
    attributes: Mapping[str, object] | None = ...,
    metric_attributes: Mapping[str, MetricValue] | None = ...,
    **dotted: object,
) -> MessageTracker: ...
def track_message(
    destination: Any,
    /,
    *,
    system: str = OTHER,
    operation: str = "process",
    operation_name: str | None = None,
    carrier: Any = None,
    message_id: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> Any:
    """Track sending, receiving or processing a message on a queue, topic or list.

    ``operation`` is the kind of step: ``send`` (or ``create``), ``receive``,
    ``process`` or ``settle``; ``operation_name`` is the system's own word for it when
    that differs (``publish``, ``ack``). ``system`` names the broker (``kafka``,
    ``rabbitmq``, ``aws_sqs``; any name, such as ``redis``, is accepted).

    ``carrier`` is the message (a dict payload or a header list). On ``send`` the span's
    trace context is written into it; on ``process`` the span continues the trace read
    from it and links to the sending span; on ``receive`` and ``settle`` it links only.
    A malformed carrier is ignored.

    Extra keywords, as for every tracker: ``attributes={...}`` are span attributes (any
    key); ``metric_attributes={...}`` are low-cardinality labels of the duration metric,
    also set on the span; a keyword with a dot in its name is a span attribute; any other
    keyword is a TypeError here. Example::

        with apm.track_message("jobs", system="redis", operation="send", carrier=job):
            redis.lpush("jobs", json.dumps(job))

        job = json.loads(redis.brpop("jobs")[1])                   # the worker
        with apm.track_message("jobs", system="redis", carrier=job):
            handle(job)
    """
    options: dict[str, Any] = {
        "system": system, "operation": operation, "operation_name": operation_name,
        "carrier": carrier, "message_id": message_id, "server_address": server_address,
        "server_port": server_port,
    }  # fmt: skip
    if is_bare(destination):
        # Bare @track_message: processing a message whose queue is named by the function.
        return MessageTracker(target_name(destination), **options)(destination)
    extras = extra_attributes(
        "track_message",
        options,
        dotted,
        attributes=attributes,
        metric_attributes=metric_attributes,
    )
    return MessageTracker(destination, **options, extras=extras)
