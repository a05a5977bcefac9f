"""The tracking engine: one span, one timing and one metric record per tracked call.

A :class:`Tracker` is what ``apm.track_*(...)`` returns. It works as a decorator (the
callable's kind is decided once, in :mod:`.dispatch`) and as a sync or async context
manager. Operations are started, activated and ended by :mod:`.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from . import runtime as _runtime
from .attributes import (
    MAX_ATTRIBUTE_LENGTH,
    coerce_attributes,
    integer_argument,
    low_cardinality_label,
    safe_str,
    truncate,
)
from .dispatch import decorate
from .handle import Operation
from .lifecycle import begin, leave
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
        return decorate(self, fn)

    def _start(self, runtime: Runtime, parent_context: otel_context.Context | None) -> OpT:
        """Start the span and the operation; vocabularies may override (e.g. to enrich)."""
        span = runtime.tracer.start_span(
            self.span_name,
            context=parent_context,
            kind=self.span_kind,
            attributes=self.span_attributes,
        )
        # Typed by assignment, not cast(): cast is a function call on every tracked call.
        operation: OpT = self.operation_class(  # type: ignore[assignment]
            self, runtime, span, parent_context=parent_context
        )
        return operation

    def __enter__(self) -> OpT:
        runtime = _runtime.current or _runtime.adopt()
        operation = begin(self, runtime) if runtime is not None else None
        if operation is None:
            return cast(OpT, self.operation_class._inert())
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
            leave(operation, exc)

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
