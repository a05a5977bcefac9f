"""Carry the trace from process to process, and from thread to thread.

Across processes, the W3C ``traceparent`` / ``tracestate`` / ``baggage`` headers (or
whatever ``OTEL_PROPAGATORS`` selects) travel in any carrier: HTTP headers, a queue
message's payload, an ASGI scope's header list::

    payload = apm.inject({"job": 42})           # the sender
    with apm.attach_context(payload):           # the receiver
        handle(payload)                         # its spans continue the sender's trace

A carrier that is missing, malformed or hostile (wrong length, bad hex, all-zero ids,
oversized baggage) is ignored: the receiver starts a new trace, nothing is raised.

Inside a process, ``asyncio`` tasks copy the context by themselves. Threads do not:
:func:`propagate_context` and :class:`ContextThreadPoolExecutor` carry it there. Work
that outlives the request that started it is tracked with :func:`track_background`.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Link, SpanKind

from ._http.carriers import GETTER, SETTER
from ._tracking.attributes import text_argument
from ._tracking.errors import report_internal_error
from ._tracking.handle import Operation
from ._tracking.runtime import Runtime
from ._tracking.tracker import Tracker

__all__ = [
    "ContextThreadPoolExecutor",
    "attach_context",
    "extract",
    "inject",
    "propagate_context",
    "track_background",
]

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def inject(carrier: C, context: otel_context.Context | None = None) -> C:
    """Write the current trace context (or ``context``'s) into ``carrier``; return it.

    ``carrier`` is a mutable mapping (a dict, a message payload, httpx or requests
    headers) or a list of ``(name, value)`` pairs, as Kafka clients use. Outside any
    span there is nothing to write, and the carrier is returned unchanged.
    """
    try:
        propagate.inject(carrier, context=context, setter=SETTER)
    except Exception as exc:
        report_internal_error("propagation.inject", exc)
    return carrier


def extract(carrier: object, context: otel_context.Context | None = None) -> otel_context.Context:
    """The trace context a sender put in ``carrier``, on top of ``context`` (default: none).

    Start a span with ``context=apm.extract(headers)`` to continue the sender's trace.
    Header names match case-insensitively; values may be ``str`` or ``bytes``. Anything
    unusable is ignored, so a span started in the result begins a new trace.
    """
    base = otel_context.Context() if context is None else context
    try:
        return propagate.extract(carrier, context=base, getter=GETTER)
    except Exception as exc:
        report_internal_error("propagation.extract", exc)
        return base


@contextmanager
def attach_context(carrier: object) -> Iterator[otel_context.Context]:
    """Make the sender's trace context current for the block.

    Spans started in the block are children of the sender's span and see its baggage.
    The context replaces the current one (as a request handler wants): with an empty or
    malformed carrier, spans in the block start a new trace.
    """
    extracted = extract(carrier)
    token = otel_context.attach(extracted)
    try:
        yield extracted
    finally:
        otel_context.detach(token)


# --- threads -----------------------------------------------------------------------------


def propagate_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the caller's context, to be run on another thread.

    Threads start with an empty context, so spans made in a thread pool would begin new
    traces. Wrap the callable where the context is right (in the request)::

        executor.submit(apm.propagate_context(resize_image), path)

    Every context variable is carried, as :func:`asyncio.to_thread` does. Each call
    runs in its own copy, so the wrapped callable may run on many threads at once.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_captured_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_captured_context


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A :class:`~concurrent.futures.ThreadPoolExecutor` whose tasks run in the context
    of the code that submitted them, so their spans join the submitter's trace."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        return super().submit(propagate_context(fn), *args, **kwargs)


# --- background work ---------------------------------------------------------------------


class BackgroundTracker(Tracker[Operation]):
    """What ``track_background(...)`` returns: a new trace linked to the one that started it.

    A child span that ends after its parent (a request that has already answered) makes
    the parent look shorter than the work it caused, and keeps the request's trace open
    for as long as the job runs. A separate trace with a link keeps both readable, and
    each trace viewer can still follow the link from the job back to the request.
    """

    def __init__(self, name: str) -> None:
        super().__init__(
            span_name=name,
            span_kind=SpanKind.INTERNAL,
            span_attributes={},
            metric_attributes={},
        )

    def _start(self, runtime: Runtime, parent_context: otel_context.Context | None) -> Operation:
        trigger = trace.get_current_span(parent_context).get_span_context()
        links = [Link(trigger)] if trigger.is_valid else None
        # No parent span, but the rest of the context (baggage) is kept.
        new_root = trace.set_span_in_context(INVALID_SPAN, parent_context)
        span = runtime.tracer.start_span(
            self.span_name, context=new_root, kind=self.span_kind, links=links
        )
        return Operation(self, runtime, span, parent_context=parent_context)


@overload
def track_background(name: F, /) -> F: ...
@overload
def track_background(name: str, /) -> BackgroundTracker: ...
def track_background(name: Any, /) -> Any:
    """Track work that may outlive the request that started it, as a linked new trace.

    The span (INTERNAL, named ``name`` or after the function) starts a trace of its own
    with a link to the span that was current when the work started: the request that
    queued a FastAPI background task, created an ``asyncio`` task, or submitted to a
    :class:`ContextThreadPoolExecutor`. Works as a bare or called decorator and as a
    (sync or async) context manager::

        @apm.track_background
        async def send_receipt(order_id): ...

        background_tasks.add_task(send_receipt, order.id)   # inside the request
    """
    if callable(name):
        return BackgroundTracker(getattr(name, "__qualname__", "background"))(name)
    return BackgroundTracker(text_argument(name) or "background")
