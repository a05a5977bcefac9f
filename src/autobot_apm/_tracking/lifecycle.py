"""The life of one tracked call: start, activate, complete, finish, deactivate.

These functions start, activate and end every tracked call's span (the ASGI middleware's
server span has its own path, ``_http/request.py``); each
contains its own faults, so user code never sees them. The trackers' context managers
(:mod:`.tracker`) and the decorators' wrappers (:mod:`.dispatch`) both call them, which is
why they live apart from either: neither of those two modules imports the other's callers.

:func:`begin` and :func:`conclude` are the path of a call that runs once (a function, a
coroutine, a ``with`` block): they read the current context once and hand it to the SDK,
so a tracked call makes no more context look-ups than hand-written instrumentation does.
A generator, activated again at every item, uses :func:`activate`/:func:`deactivate`.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.trace import NonRecordingSpan, set_span_in_context

from .errors import report_internal_error
from .handle import OPERATION_KEY, Operation
from .runtime import Runtime

OpT_co = TypeVar("OpT_co", bound=Operation, covariant=True)


class Starter(Protocol[OpT_co]):
    """What starts an operation: a :class:`~.tracker.Tracker` (vocabularies override it)."""

    def _start(self, runtime: Runtime, parent_context: otel_context.Context | None) -> OpT_co:
        """Start the span and the operation (may raise: the callers contain it)."""
        ...


def begin(tracker: Starter[OpT_co], runtime: Runtime) -> OpT_co | None:
    """Start an operation in the current context and make it current; None on a fault.

    The same as :func:`start_operation` then :func:`activate`, with the current context
    read once: the SDK is given it as the parent instead of looking it up again.
    """
    try:
        current = otel_context.get_current()
        operation = tracker._start(runtime, current)
    except Exception as exc:
        report_internal_error("start_operation", exc)
        return None
    try:
        span_context = set_span_in_context(operation.span, current)
        operation._context_token = otel_context.attach(
            otel_context.set_value(OPERATION_KEY, operation, span_context)
        )
    except Exception as exc:
        report_internal_error("activate", exc)
    return operation


def conclude(operation: Operation, result: Any) -> Any:
    """:func:`complete` then :func:`deactivate`, for an operation :func:`begin` started."""
    handed_over = result
    if operation._inspects_result:
        try:
            handed_over = operation._on_result(result)
        except Exception as exc:
            report_internal_error("complete", exc)
    if not operation._deferred:
        finish(operation, None)
    # deactivate(), written out: one frame fewer on every tracked call.
    token, operation._context_token = operation._context_token, None
    if token is not None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception as internal:
            report_internal_error("deactivate", internal)
    return handed_over


def leave(operation: Operation, exc: BaseException | None) -> None:
    """:func:`finish` then :func:`deactivate`: the call raised ``exc`` (or a block ended)."""
    finish(operation, exc)
    # deactivate(), written out: one frame fewer on every tracked call.
    token, operation._context_token = operation._context_token, None
    if token is not None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception as internal:
            report_internal_error("deactivate", internal)


def start_operation(
    tracker: Starter[OpT_co],
    runtime: Runtime,
    parent_context: otel_context.Context | None = None,
) -> OpT_co | None:
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
