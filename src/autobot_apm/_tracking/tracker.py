"""The tracking engine: one span, one timing and one metric record per tracked call.

A :class:`Tracker` is what ``apm.track_*(...)`` returns. It works as a decorator (the
callable's kind is decided once, in :mod:`._dispatch`) and as a sync or async context
manager. The lifecycle functions below are the only code that starts, activates and ends
operations; each contains its own faults so that user code never sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from time import perf_counter
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry.trace import NonRecordingSpan, SpanKind, set_span_in_context

from . import runtime as _runtime
from .attributes import (
    MAX_ATTRIBUTE_LENGTH,
    coerce_attributes,
    integer_argument,
    low_cardinality_label,
    safe_str,
    truncate,
)
from .errors import report_internal_error
from .handle import OPERATION_KEY, Operation
from .runtime import Runtime

OpT = TypeVar("OpT", bound=Operation)
F = TypeVar("F")

# Operations entered with ``with`` in this context, innermost last, so that __exit__
# finds its own operation even when one tracker object is shared between threads.
_ENTERED: ContextVar[tuple[Operation, ...]] = ContextVar("autobot_apm_entered", default=())


class Tracker(Generic[OpT]):
    """A tracked kind of call: decorator, context manager and async context manager."""

    operation_class: ClassVar[type[Operation]] = Operation

    def __init__(
        self,
        *,
        span_name: str,
        span_kind: SpanKind,
        span_attributes: Mapping[str, object],
        metric_attributes: Mapping[str, object],
    ) -> None:
        # An unencodable name (bytes, a lone surrogate) would fail its whole export batch.
        self.span_name = truncate(safe_str(span_name), MAX_ATTRIBUTE_LENGTH)
        self.span_kind = span_kind
        # Static attributes are coerced once, here, not on every call.
        self.span_attributes = coerce_attributes(span_attributes)
        self.metric_attributes: dict[str, str | int] = {
            key: _metric_value(value)
            for key, value in metric_attributes.items()
            if value is not None
        }

    def __call__(self, fn: F) -> F:
        from .dispatch import decorate

        return decorate(self, fn)

    def _start(self, runtime: Runtime, parent_context: otel_context.Context | None) -> OpT:
        """Start the span and the operation; vocabularies may override (e.g. to enrich)."""
        span = runtime.tracer.start_span(
            self.span_name,
            context=parent_context,
            kind=self.span_kind,
            attributes=self.span_attributes,
        )
        operation = self.operation_class(self, runtime, span, parent_context=parent_context)
        return cast(OpT, operation)

    def __enter__(self) -> OpT:
        runtime = _runtime.current or _runtime.adopt()
        operation = start_operation(self, runtime) if runtime is not None else None
        if operation is None:
            return cast(OpT, self.operation_class._inert())
        activate(operation)
        _ENTERED.set((*_ENTERED.get(), operation))
        return operation

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        operation = _pop_entered(self)
        if operation is not None:
            finish(operation, exc)
            deactivate(operation)

    async def __aenter__(self) -> OpT:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def _metric_value(value: object) -> str | int:
    """Bools and 64-bit ints as they are; anything else a short label (never raising)."""
    if type(value) is bool:
        return value
    number = integer_argument(value)
    return number if number is not None else low_cardinality_label(value)


def _pop_entered(tracker: Tracker[Any]) -> Operation | None:
    entered = _ENTERED.get()
    for index in range(len(entered) - 1, -1, -1):
        if entered[index]._tracker is tracker:
            _ENTERED.set(entered[:index] + entered[index + 1 :])
            return entered[index]
    return None


def start_operation(
    tracker: Tracker[OpT],
    runtime: Runtime,
    parent_context: otel_context.Context | None = None,
) -> OpT | None:
    """Start an operation, or return None (and run the call untracked) on a fault."""
    try:
        return tracker._start(runtime, parent_context)
    except Exception as exc:
        report_internal_error("start_operation", exc)
        return None


def activate(operation: Operation | None) -> None:
    """Make the operation's span and handle current, until :func:`deactivate`."""
    if operation is None:
        return
    try:
        # A generator or stream is activated at every item, nearly always from the same
        # context: reuse what was built from it last time instead of copying it twice.
        current = otel_context.get_current()
        activation = operation._activation
        if activation is not None and activation[0] is current:
            ctx = activation[1]
        else:
            span_context = set_span_in_context(operation.span, current)
            ctx = otel_context.set_value(OPERATION_KEY, operation, span_context)
            operation._activation = (current, ctx)
        operation._context_token = otel_context.attach(ctx)
    except Exception as exc:
        report_internal_error("activate", exc)


def deactivate(operation: Operation | None) -> None:
    """Restore the context that was current before :func:`activate`."""
    if operation is None or operation._context_token is None:
        return
    token, operation._context_token = operation._context_token, None
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except Exception as exc:
        report_internal_error("deactivate", exc)


def complete(operation: Operation | None, result: Any) -> Any:
    """End a call that returned ``result``; return what the caller should receive."""
    if operation is None:
        return result
    try:
        handed_over = operation._on_result(result)
    except Exception as exc:
        report_internal_error("complete", exc)
        handed_over = result
    if not operation._deferred:
        finish(operation, None)
    return handed_over


def record_item(operation: Operation | None, item: Any) -> None:
    """Let the vocabulary look at one item a tracked generator yielded."""
    if operation is None:
        return
    try:
        operation._on_item(item)
    except Exception as exc:
        report_internal_error("record_item", exc)


def finish(operation: Operation | None, exc: BaseException | None) -> None:
    """End the operation once: record the error if any, the metric, then the span."""
    if operation is None or operation._ended:
        return
    operation._ended = True
    # The kept context holds the operation: drop it, so no cycle outlives the call.
    operation._activation = None
    try:
        if exc is not None:
            operation._on_exception(exc)
        if operation._runtime is not None:
            operation._on_end(perf_counter() - operation._started)
    except Exception as internal:
        report_internal_error("finish", internal)
    if operation._owns_span:
        try:
            operation.span.end()
            # A handle kept past its block (op.set_attribute() after the with) must be a
            # quiet no-op: the SDK warns on every write to an ended span. A non-recording
            # span with the same ids keeps op.trace_id and op.span_id readable.
            operation.span = NonRecordingSpan(operation.span.get_span_context())
        except Exception as internal:
            report_internal_error("finish.end", internal)
