"""APMMiddleware: one server span and one duration record per HTTP request, for any ASGI app.

::

    import autobot_apm as apm
    from fastapi import FastAPI

    app = FastAPI()
    apm.instrument_fastapi(app)          # FastAPI: the same as app.add_middleware(APMMiddleware)
    app = apm.APMMiddleware(starlette_app, server_timing=True)   # any ASGI application

The span is named ``{method} {route}`` from the route template the framework matched
(read from the scope after routing), never from the raw path. Health checks are not
tracked (``excluded_urls``). WebSocket scopes pass through untouched; the lifespan is
passed through too, watched only to switch FastAPI's own telemetry off at startup and to
export what is buffered when it shuts down.

FastAPI traces itself once SDK providers exist. The middleware keeps it to one span per
request, whichever way it is attached: wrapping the app, it sets the ``fastapi.telemetry``
scope key, which makes FastAPI step aside; in the app's own stack (``add_middleware``,
``instrument_fastapi``), it switches FastAPI's telemetry off for that app when it first
sees it (at the lifespan startup, or else at the first request, which then adds to
FastAPI's span). ``docs/middleware.md`` has the details.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from time import perf_counter
from typing import Any, Final, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from ._http.attributes import metric_attributes, pick_headers, request_url, span_attributes
from ._http.exclusions import is_excluded_request
from ._http.fastapi import switch_off_native_telemetry, warn_routes_tracked_above
from ._http.options import RequestOptions, build_options, normalize_overrides
from ._http.request import ASGIApp, EnrichingServerRequest, Receive, Send, ServerRequest
from ._sdk.setup import flush
from ._tracking import runtime as _runtime
from ._tracking.errors import contained, report_internal_error
from .api import server_span_name
from .propagation import extract

__all__ = ["APMMiddleware", "instrument_fastapi", "is_excluded_request"]

Scope = MutableMapping[str, Any]
AppT = TypeVar("AppT")
Begun = tuple[ServerRequest, otel_context.Context]

# FastAPI's native telemetry skips a request whose scope already has this key.
FASTAPI_TELEMETRY_KEY: Final = "fastapi.telemetry"
# Set while this library handles a request, so that a second APMMiddleware (say, one
# added with app.add_middleware under instrument_fastapi) lets it through untouched.
REQUEST_KEY: Final = "autobot_apm.request"

_EMPTY_CONTEXT: Final = otel_context.Context()
# Where a fault starting a request is reported (the name @contained would give).
_BEGIN: Final = f"{__name__}.APMMiddleware._begin"
_HEADER: Final = "http.request.header."


class APMMiddleware:
    """Trace and time every HTTP request of an ASGI application.

    Each argument overrides the setting of the same name (and its environment variable,
    see ``docs/configuration.md``); left as None, the setting applies as configured
    when the first request arrives, so the app may be built before ``apm.configure()``.

    - ``excluded_urls``: regexes searched in ``scheme://host/path``; matching requests
      get no span and no metric. None: health, readiness and liveness probes,
      ``/metrics`` and ``/favicon.ico``; ``()`` excludes nothing.
    - ``capture_request_headers`` / ``capture_response_headers``: header names or
      regexes recorded as ``http.request.header.<name>`` (none by default);
      ``sanitize_header_fields``: headers recorded as ``[REDACTED]`` (credential
      headers always are).
    - ``server_timing``: add ``Server-Timing: traceparent;desc="00-..."`` to responses,
      so a browser front end can join its own timings to the backend trace.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_urls: str | Iterable[str] | None = None,
        capture_request_headers: str | Iterable[str] | None = None,
        capture_response_headers: str | Iterable[str] | None = None,
        sanitize_header_fields: str | Iterable[str] | None = None,
        server_timing: bool | None = None,
    ) -> None:
        self.app = app
        self._overrides = normalize_overrides(
            excluded_urls=excluded_urls,
            capture_request_headers=capture_request_headers,
            capture_response_headers=capture_response_headers,
            sanitize_header_fields=sanitize_header_fields,
            server_timing=server_timing,
        )
        self._options: RequestOptions | None = None
        self._met_app = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._met_app:
            self._meet_app(scope)
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _flushing_at_shutdown(send))
            return
        runtime = _runtime.current or _runtime.adopt()
        if scope["type"] != "http" or runtime is None or REQUEST_KEY in scope:
            await self.app(scope, receive, send)
            return
        claimed = FASTAPI_TELEMETRY_KEY not in scope
        if claimed:
            scope[FASTAPI_TELEMETRY_KEY] = None
        scope[REQUEST_KEY] = None
        try:
            # Contained here rather than by @contained, which would add a frame and the
            # packing of its arguments to every request.
            try:
                begun = self._begin(runtime, scope, receive, send)
            except Exception as exc:
                report_internal_error(_BEGIN, exc)
                begun = None  # a fault costs this request its telemetry, never its answer
            if begun is None:
                await self.app(scope, receive, send)
            else:
                await begun[0].run(self.app, scope, begun[1])
        finally:
            scope.pop(REQUEST_KEY, None)
            if claimed:
                scope.pop(FASTAPI_TELEMETRY_KEY, None)

    @contained(None)
    def _meet_app(self, scope: Scope) -> None:
        """Once, before the first request is served if the server runs a lifespan."""
        self._met_app = True
        outer = scope.get("app")  # set by a Starlette/FastAPI app around this middleware
        if outer is not None and outer is not self.app:
            switch_off_native_telemetry(outer, type(self))
            warn_routes_tracked_above(outer)
        else:
            warn_routes_tracked_above(self.app)

    def _begin(
        self, runtime: _runtime.Runtime, scope: Scope, receive: Receive, send: Send
    ) -> Begun | None:
        """Start tracking ``scope``; None for an excluded request."""
        started = perf_counter()
        options = self._options_for(runtime)
        picked = pick_headers(scope.get("headers") or (), options.read_headers)
        if options.is_excluded(request_url(scope, picked.get("host"))):
            return None
        methods = options.method_attributes(scope.get("method") or "")
        attributes = span_attributes(scope, picked, methods)
        if options.request_headers.enabled:
            attributes.update(options.request_headers.attributes(scope["headers"], _HEADER))
        existing = _existing_server_span()
        if existing is not None:
            existing.set_attributes(attributes)
            request: ServerRequest = EnrichingServerRequest(
                options, existing, scope, {}, receive, send, started=started, owns_span=False
            )
            return request, otel_context.get_current()
        parent = _parent_context(picked, options.propagation_fields)
        span = options.tracer.start_span(
            server_span_name(methods["http.request.method"], None),
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        metrics = metric_attributes(scope, methods)
        request = ServerRequest(options, span, scope, metrics, receive, send, started=started)
        return request, parent

    def _options_for(self, runtime: _runtime.Runtime) -> RequestOptions:
        """This middleware's options for ``runtime``, built at its first request."""
        options = self._options
        if options is None or options.runtime is not runtime:
            options = self._options = build_options(runtime, self._overrides)
        return options


def instrument_fastapi(
    app: AppT,
    *,
    excluded_urls: str | Iterable[str] | None = None,
    capture_request_headers: str | Iterable[str] | None = None,
    capture_response_headers: str | Iterable[str] | None = None,
    sanitize_header_fields: str | Iterable[str] | None = None,
    server_timing: bool | None = None,
) -> AppT:
    """Add :class:`APMMiddleware` to a FastAPI (or Starlette) app's stack; return the app.

    The same as ``app.add_middleware(APMMiddleware, ...)``, except that FastAPI's own
    telemetry is switched off for the app now rather than at its first lifespan or
    request. The app object, its class included, stays as it was. The arguments are
    those of :class:`APMMiddleware`; calling it again on the same app changes nothing.
    Like ``add_middleware``, call it before the app serves its first request::

        app = FastAPI()
        apm.instrument_fastapi(app)
    """
    stack = getattr(app, "user_middleware", None)
    add_middleware = getattr(app, "add_middleware", None)
    if not isinstance(stack, list) or not callable(add_middleware):
        raise TypeError(
            "instrument_fastapi() takes a FastAPI or Starlette application object; "
            f"wrap any other ASGI application with APMMiddleware(app), not {type(app).__name__}"
        )
    if not any(getattr(entry, "cls", None) is APMMiddleware for entry in stack):
        add_middleware(
            APMMiddleware,
            excluded_urls=excluded_urls,
            capture_request_headers=capture_request_headers,
            capture_response_headers=capture_response_headers,
            sanitize_header_fields=sanitize_header_fields,
            server_timing=server_timing,
        )
    switch_off_native_telemetry(app, APMMiddleware)
    return app


def _existing_server_span() -> Span | None:
    """The server span of an instrumentation outside this middleware (FastAPI's own)."""
    span = trace.get_current_span()
    if getattr(span, "kind", None) is SpanKind.SERVER and span.is_recording():
        return span
    return None


def _flushing_at_shutdown(send: Send) -> Send:
    """``send`` that exports buffered telemetry before the lifespan shutdown completes.

    The server may exit right after, without atexit: uvicorn (also as a gunicorn worker)
    re-raises SIGTERM with the default handler once its graceful shutdown is done. The
    flush blocks the loop for at most the shutdown cap, when no request is served any more.
    """

    async def flushing_send(message: MutableMapping[str, Any]) -> None:
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            flush()
        await send(message)

    return flushing_send


def _parent_context(picked: dict[str, str], fields: frozenset[str]) -> otel_context.Context:
    """The caller's context from traceparent/tracestate/baggage; empty without them."""
    if fields.isdisjoint(picked):
        return _EMPTY_CONTEXT  # a new trace; the context of the server's task is no parent
    carrier = {name: value for name, value in picked.items() if name in fields}
    # Our extract drops oversized values before the SDK would log them whole.
    return extract(carrier, _EMPTY_CONTEXT)
