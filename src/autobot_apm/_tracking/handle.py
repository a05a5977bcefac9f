"""The handle of one tracked call: what ``with`` yields and current_operation() returns."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from time import perf_counter
from typing import Any, ClassVar, Protocol, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode

from .attributes import (
    MAX_ATTRIBUTE_LENGTH,
    attribute_key,
    coerce,
    coerce_attributes,
    error_type,
    exception_attributes,
    safe_str,
    truncate,
)
from .errors import contained
from .runtime import Runtime

OPERATION_KEY = otel_context.create_key("autobot_apm.operation")

OpT = TypeVar("OpT", bound="Operation")


class TrackerSpec(Protocol):
    """What a handle reads of the tracker that made it (a :class:`.tracker.Tracker`).

    A protocol rather than the class itself, so that this module does not import the
    tracker, which imports it.
    """

    @property
    def metric_attributes(self) -> Mapping[str, str | int]:
        """The tracker's static metric attributes, copied into each call's own."""
        ...


class Operation:
    """One tracked call in progress.

    Vocabularies subclass it to add what their call can report (``rows()``, ``hit()``,
    ``usage()``...) and override the ``_on_*`` hooks the engine calls. Every public
    method is safe to call in any state, also after the call ended or when telemetry is
    off: it then does nothing.
    """

    __slots__ = (
        "_activation",
        "_context_token",
        "_deferred",
        "_ended",
        "_error_type",
        "_metric_attributes",
        "_owns_span",
        "_parent",
        "_runtime",
        "_shared_metric_attributes",
        "_started",
        "_tracker",
        "span",
    )

    # One shared inert handle per class, handed out when nothing is tracked.
    _inert_instances: ClassVar[dict[type[Operation], Operation]] = {}
    # Whether the class overrides _on_result: the engine skips the call of the base one,
    # which hands the result back untouched (one Python frame per call).
    _inspects_result: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._inspects_result = cls._on_result is not Operation._on_result
        _contain_reports(cls)

    def __init__(
        self,
        tracker: TrackerSpec | None,
        runtime: Runtime | None,
        span: Span,
        *,
        owns_span: bool = True,
        parent_context: otel_context.Context | None = None,
    ) -> None:
        self.span = span
        self._tracker = tracker
        self._runtime = runtime
        self._owns_span = owns_span
        # The tracker's own labels, shared by its calls and never written: a call that
        # adds one (error.type, a status code) copies them first (_set_metric_attribute).
        # Most calls add none, and so allocate no dict for their metrics.
        self._metric_attributes: dict[str, Any] = (
            tracker.metric_attributes if tracker is not None else {}  # type: ignore[assignment]
        )
        self._shared_metric_attributes = tracker is not None
        self._error_type: str | None = None
        self._ended = False
        # Set by a vocabulary that hands the caller a stream: the call ends with the stream.
        self._deferred = False
        self._context_token: object | None = None
        # (context it was activated from, context it made current), for activate().
        self._activation: tuple[otel_context.Context, otel_context.Context] | None = None
        # The context's own get(), not get_value(): no second look-up of the current
        # context when the caller passed it (lifecycle.begin always does).
        context = otel_context.get_current() if parent_context is None else parent_context
        self._parent: Operation | None = context.get(OPERATION_KEY)  # type: ignore[assignment]
        self._started = perf_counter()
        self._on_start()

    # --- public: what user code may report ---

    def set_attribute(self, key: str, value: object) -> None:
        """Add an attribute to the span (coerced to a valid OpenTelemetry value)."""
        name, coerced = attribute_key(key), coerce(value)
        if coerced is not None and name is not None:
            self.span.set_attribute(name, coerced)

    def set_attributes(self, attributes: Mapping[str, object]) -> None:
        """Add several span attributes at once."""
        self.span.set_attributes(coerce_attributes(attributes))

    def add_event(self, name: str, attributes: Mapping[str, object] | None = None) -> None:
        """Add a timestamped event to the span."""
        text = truncate(safe_str(name), MAX_ATTRIBUTE_LENGTH)
        self.span.add_event(text, coerce_attributes(attributes))

    def fail(self, reason: str) -> None:
        """Mark the call failed without an exception; ``reason`` becomes ``error.type``."""
        self._set_error(truncate(safe_str(reason), 128), None)

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits (all zeros when not recorded)."""
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits (all zeros when not recorded)."""
        return format(self.span.get_span_context().span_id, "016x")

    @property
    def elapsed(self) -> float:
        """Seconds since the call started."""
        return perf_counter() - self._started

    # --- hooks the engine calls; vocabularies override ---

    def _on_start(self) -> None:
        """Set the vocabulary's own per-call state (its extra slots); runs in __init__.

        Overriding this instead of ``__init__(*args, **kwargs)`` spares every tracked
        call the packing and unpacking of those arguments (a third of its creation).
        """

    def _on_result(self, result: Any) -> Any:
        """Inspect the call's result; return what the caller receives (usually ``result``)."""
        return result

    def _on_item(self, item: Any) -> None:
        """Inspect one item yielded by a tracked generator."""

    def _on_exception(self, exc: BaseException) -> None:
        """Record the user's exception; the engine re-raises the same object afterwards."""
        if isinstance(exc, GeneratorExit):
            return  # a consumer closing a stream early is not a failure
        if isinstance(exc, asyncio.CancelledError):
            self._set_cancelled()
            return
        self._set_error(error_type(exc), exc)

    def _on_end(self, duration: float) -> None:
        """Record the call's metric(s); called once, before the span ends."""

    # --- engine internals ---

    def _set_metric_attribute(self, key: str, value: str | int | bool) -> None:
        """Label this call's metrics with ``key``; the tracker's shared labels stay as
        they are (the first label a call adds copies them)."""
        if self._shared_metric_attributes:
            self._metric_attributes = dict(self._metric_attributes)
            self._shared_metric_attributes = False
        self._metric_attributes[key] = value

    def _set_error(self, kind: str, exc: BaseException | None) -> None:
        self._error_type = kind
        self._set_metric_attribute("error.type", kind)
        self.span.set_attribute("error.type", kind)
        if exc is not None:
            self.span.add_event("exception", exception_attributes(exc))
        description = kind if exc is None else f"{type(exc).__name__}: {safe_str(exc)}"
        self.span.set_status(Status(StatusCode.ERROR, truncate(description, 256)))

    def _set_cancelled(self) -> None:
        # Deliberate cancellation is not an error (semconv after v1.44): the status stays
        # unset, and error.type="cancelled" keeps cancelled calls apart in the metrics.
        self._error_type = "cancelled"
        self._set_metric_attribute("error.type", "cancelled")
        self.span.set_attribute("error.type", "cancelled")
        self.span.add_event("cancelled")

    @classmethod
    def _inert(cls: type[OpT]) -> OpT:
        """A shared handle that accepts every call and records nothing."""
        inert = Operation._inert_instances.get(cls)
        if inert is None:
            inert = cls(None, None, INVALID_SPAN, owns_span=False)
            inert._ended = True
            Operation._inert_instances[cls] = inert
        return inert  # type: ignore[return-value]


@overload
def current_operation() -> Operation: ...
@overload
def current_operation(kind: type[OpT]) -> OpT: ...
def current_operation(kind: type[Operation] = Operation) -> Operation:
    """Return the innermost tracked call of type ``kind`` in progress in this context.

    Inside a decorated function this is the handle a ``with`` block would have given,
    so the function can report what it knows (rows read, cache hit, tokens used)::

        @apm.track_database("postgresql", operation="SELECT", collection="users")
        def load_users():
            rows = db.fetch_all(...)
            apm.current_operation(apm.DatabaseOperation).rows(len(rows))
            return rows

    When no such call is in progress (or telemetry is off) an inert handle is returned,
    so reporting never fails.
    """
    operation: Operation | None = otel_context.get_value(OPERATION_KEY)  # type: ignore[assignment]
    while operation is not None and not isinstance(operation, kind):
        operation = operation._parent
    if operation is not None:
        return operation
    return _NULL_OPERATION if kind is Operation else kind._inert()


def _contain_reports(cls: type[Operation]) -> None:
    """Make every public report method ``cls`` defines (one returning None) contained.

    The report methods coerce what user code hands them, but a value the coercion did not
    foresee must cost that report, never the user's call: the promise is kept here, once
    for every vocabulary, rather than by each method's own care. Under
    ``AUTOBOT_APM_STRICT=1`` (the test suite) such a fault is raised, so it is seen.
    Coroutine methods (the middleware's request, not reports) are left alone: a wrapper
    that returns their coroutine could not contain what it raises when awaited.
    """
    for name, member in list(vars(cls).items()):
        returns = getattr(member, "__annotations__", {}).get("return", _UNANNOTATED)
        if (
            not name.startswith("_")
            and inspect.isfunction(member)
            and not inspect.iscoroutinefunction(member)
            and returns in _NONE
        ):
            setattr(cls, name, contained(None)(member))


_UNANNOTATED = object()
_NONE = ("None", None)  # the annotation as text (postponed evaluation) or as the object


class _NullOperation(Operation):
    """Stands in when nothing is tracked: every method, of any vocabulary, does nothing.

    ``apm.current_operation().rows(3)`` in a function that runs untracked (telemetry off,
    or called outside any tracker) must not raise.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _ignore


def _ignore(*args: object, **kwargs: object) -> None:
    return None


_contain_reports(Operation)
_NULL_OPERATION = _NullOperation(None, None, INVALID_SPAN, owns_span=False)
