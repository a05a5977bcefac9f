"""track_api: HTTP server endpoints (SERVER span, ``http.server.request.duration``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from ._http.fastapi import check_route_order, remember_tracked_original
from ._tracking.attributes import coerce_attributes, integer_argument, text_argument
from ._tracking.errors import contained
from ._tracking.handle import Operation
from ._tracking.options import (
    NO_EXTRAS,
    ExtraAttributes,
    MetricValue,
    extra_attributes,
    is_bare,
)
from ._tracking.runtime import HTTP_DURATION_BUCKETS, MetricSpec, Runtime
from ._tracking.tracker import Tracker

__all__ = ["ApiOperation", "track_api"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

HTTP_SERVER_DURATION = MetricSpec(
    "http.server.request.duration", "histogram", "s",
    "Duration of HTTP server requests.", HTTP_DURATION_BUCKETS,
)  # fmt: skip

# RFC 9110 methods plus PATCH (and QUERY, in development); others become _OTHER so that a
# client cannot create metric series at will.
DEFAULT_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"}
)


def known_methods() -> frozenset[str]:
    """The known HTTP methods; OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS replaces the list."""
    configured = os.environ.get("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "")
    names = {m.strip().upper() for m in configured.split(",") if m.strip()}
    return frozenset(names) or DEFAULT_KNOWN_METHODS


def method_attributes(method: object) -> dict[str, str]:
    """``http.request.method`` (and ``..._original`` when it had to become ``_OTHER``)."""
    original = method if type(method) is str else text_argument(method) or ""
    if original.upper() in known_methods():
        return {"http.request.method": original.upper()}
    return {"http.request.method": "_OTHER", "http.request.method_original": original[:64]}


def server_span_name(method: str, route: str | None) -> str:
    """``{method} {route}``, ``{method}`` without a route, ``HTTP`` for unknown methods."""
    shown = "HTTP" if method == "_OTHER" else method
    return f"{shown} {route}" if route else shown


class ApiOperation(Operation):
    """A tracked endpoint call. ``status(code)`` sets the response status explicitly."""

    __slots__ = ("_status_code",)

    def _on_start(self) -> None:
        self._status_code: int | None = None

    def status(self, code: int) -> None:
        """Report the HTTP status the endpoint answered with (100 to 599, else ignored)."""
        self._record_status(code)

    def _record_status(self, code: object) -> None:
        # What status() does, for the engine and the middleware: on the path of every
        # request, without the containment every public report method runs in.
        number = integer_argument(code)  # an int subclass by its value, no override run
        if number is not None and 100 <= number <= 599:
            self._status_code = number

    def _on_result(self, result: Any) -> Any:
        code = _status_code_of(result) if self._status_code is None else None
        if code is not None:
            self._record_status(code)
        return result

    def _on_exception(self, exc: BaseException) -> None:
        if not isinstance(exc, Exception):
            super()._on_exception(exc)  # cancellation, exit: not a response status
            return
        if self._status_code is None:
            # An HTTP exception (Starlette/FastAPI HTTPException) carries the status the
            # client will see; anything else escaping an endpoint becomes a 500.
            self._record_status(_status_code_of(exc) or 500)
        if self._status_code is None or self._status_code >= 500:
            super()._on_exception(exc)

    def _on_end(self, duration: float) -> None:
        code = self._status_code
        if code is not None:
            self.span.set_attribute("http.response.status_code", code)
            self._set_metric_attribute("http.response.status_code", code)
            if code >= 500 and self._error_type is None:
                self._set_error(str(code), None)
        if self._runtime is not None:
            self._runtime.histogram(HTTP_SERVER_DURATION).record(duration, self._metric_attributes)


def _status_code_of(obj: object) -> int | None:
    """``obj.status_code`` as a plain int; None when absent, not an int or raising."""
    try:
        code = getattr(obj, "status_code", None)
    except Exception:  # a property or __getattr__ of the user's object
        return None
    return integer_argument(code)


class _EnrichingApiOperation(ApiOperation):
    """track_api inside a request that already has a server span (our middleware, or
    FastAPI's own telemetry): add to that span; its owner ends it and records the metric."""

    __slots__ = ()

    def _on_exception(self, exc: BaseException) -> None:
        return  # the span's owner sees the final response and decides

    def _on_end(self, duration: float) -> None:
        return


class ApiTracker(Tracker[ApiOperation]):
    """What ``track_api(...)`` returns."""

    operation_class = ApiOperation

    def __init__(
        self,
        *,
        route: str | None,
        method: str | None,
        scheme: str,
        extras: ExtraAttributes = NO_EXTRAS,
    ) -> None:
        route = text_argument(route)  # any value: text, cut to a limit, never raising
        # No method given: _OTHER, never a guess (a POST endpoint must not read as GET).
        # Under a server span (middleware, FastAPI) the request's own method is kept.
        methods = (
            method_attributes(method) if method is not None else {"http.request.method": "_OTHER"}
        )
        self.route = route
        self.method = methods["http.request.method"]
        attributes: dict[str, object] = {**methods, "url.scheme": scheme, "http.route": route}
        # Under a server span of another owner, only the extra span attributes are added.
        self.extra_span_attributes = coerce_attributes(extras.span)
        super().__init__(
            span_name=server_span_name(methods["http.request.method"], route),
            span_kind=SpanKind.SERVER,
            span_attributes={
                **extras.span,
                **{k: v for k, v in attributes.items() if v is not None},
            },
            metric_attributes={
                **extras.metric,
                **{k: v for k, v in attributes.items() if k != "http.request.method_original"},
            },
        )

    def __call__(self, fn: T) -> T:
        _note_route_order(fn)
        return super().__call__(fn)

    def _start(self, runtime: Runtime, parent_context: otel_context.Context | None) -> ApiOperation:
        server_span = trace.get_current_span(parent_context)
        if getattr(server_span, "kind", None) is SpanKind.SERVER and server_span.is_recording():
            existing = getattr(server_span, "attributes", None) or {}
            if self.route and "http.route" not in existing:
                # The request's own method names the span, not this tracker's default.
                method = existing.get("http.request.method", self.method)
                server_span.set_attribute("http.route", self.route)
                server_span.update_name(server_span_name(str(method), self.route))
            if self.extra_span_attributes:
                server_span.set_attributes(self.extra_span_attributes)
            return _EnrichingApiOperation(self, runtime, server_span, owns_span=False)
        return super()._start(runtime, parent_context)


@contained(None)
def _note_route_order(fn: object) -> None:
    """Stacked above ``@app.get(...)``, track_api would wrap a function the router never
    calls: say so now, and let APMMiddleware name such routes when it first sees the app."""
    remember_tracked_original(fn)
    check_route_order(fn)


@overload
def track_api(fn: F, /) -> F: ...
@overload
def track_api(
    route: str | None = None,
    method: str | None = None,
    *,
    scheme: str = "http",
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> ApiTracker: ...
def track_api(
    route: Any = None,
    method: str | None = None,
    *,
    scheme: str = "http",
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> Any:
    """Track an HTTP endpoint: a SERVER span ``{method} {route}`` and its duration metric.

    Works as ``@track_api``, ``@track_api("/api/chat")``, ``@track_api("/items/{id}", "GET")``
    (or by keyword, ``route=``, ``method=``),
    ``with track_api(...) as op`` and ``async with``. The status comes from the returned
    response's ``status_code``, a raised HTTP exception's ``status_code``, or
    ``op.status(code)``; any other exception counts as 500. Under :class:`APMMiddleware`
    (or FastAPI's own telemetry) it enriches the existing server span instead of making a
    second one. ``route`` must be a template (``/items/{id}``), never a raw path.

    Extra keywords, as for every tracker: ``attributes={...}`` are span attributes (any
    key); ``metric_attributes={...}`` are low-cardinality labels of the duration metric,
    also set on the span; a keyword with a dot in its name (``**{"myapp.tier": "gold"}``)
    is a span attribute; any other keyword is a TypeError here. Under another owner's
    server span only the span attributes are added to it.
    """
    if is_bare(route, method):
        return ApiTracker(route=None, method=None, scheme=scheme)(route)
    extras = extra_attributes(
        "track_api",
        ("route", "method", "scheme"),
        dotted,
        attributes=attributes,
        metric_attributes=metric_attributes,
    )
    return ApiTracker(route=route, method=method, scheme=scheme, extras=extras)
