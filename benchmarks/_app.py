"""The application the middleware benchmark serves: one FastAPI endpoint, instrumented
as ``BENCH_MODE`` says. uvicorn imports it: ``uvicorn benchmarks._app:app``.

Every instrumented mode gets the same providers, built by ``apm.configure()``: a batch
span processor exporting OTLP/HTTP to ``BENCH_OTLP_ENDPOINT`` (a sink that discards
what it receives), so encoding and sending spans is part of each mode's cost, and the
collector's work is not. Modes:

- ``bare``: FastAPI with its native telemetry off and no providers at all;
- ``fastapi``: FastAPI's native telemetry, as it turns on by itself once providers exist;
- ``contrib``: the official ``opentelemetry-instrumentation-fastapi`` (FastAPI's own
  telemetry steps aside for it);
- ``minimal``: a hand-written ASGI middleware making one span and one histogram record
  per request, FastAPI's own telemetry off: the floor for a middleware;
- ``apm``: ``apm.instrument_fastapi(app)``, the way the library is meant to be used;
- ``apm_add``: ``app.add_middleware(apm.APMMiddleware)``, no telemetry settings given
  to FastAPI (the middleware switches FastAPI's own off at the lifespan startup);
- ``apm_wrap``: ``apm.APMMiddleware(app)`` around the app, FastAPI's telemetry left as
  it turns on by itself (the middleware makes it step aside per request).

With ``BENCH_GC_FILE`` set, the process records its garbage-collection pauses and
reports them on ``SIGUSR1`` (``_collections.py``).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, set_span_in_context

import autobot_apm as apm

from ._collections import install as record_collections

MODES = ("bare", "fastapi", "contrib", "minimal", "apm", "apm_add", "apm_wrap")
NATIVE_OFF: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def endpoint_app(telemetry: dict[str, Any] | None = None) -> FastAPI:
    app = FastAPI() if telemetry is None else FastAPI(telemetry=telemetry)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def configure_telemetry() -> None:
    endpoint = os.environ.get("BENCH_OTLP_ENDPOINT")
    if endpoint:
        apm.configure(service_name="bench-server", endpoint=endpoint, protocol="http/protobuf")
    else:
        apm.configure(service_name="bench-server", exporter="none")


class OneSpanMiddleware:
    """The least a server middleware can do: one span, one histogram record, the route
    template read from the scope after routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = trace.get_tracer("bench.minimal")
        self.duration = metrics.get_meter("bench.minimal").create_histogram(
            "http.server.request.duration",
            unit="s",
            explicit_bucket_boundaries_advisory=[
                0.005,
                0.01,
                0.025,
                0.05,
                0.075,
                0.1,
                0.25,
                0.5,
                0.75,
                1,
                2.5,
                5,
                7.5,
                10,
            ],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = [500]

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        attributes: dict[str, Any] = {"http.request.method": method, "url.scheme": "http"}
        span = self.tracer.start_span(method, kind=SpanKind.SERVER, attributes=attributes)
        token = otel_context.attach(set_span_in_context(span))
        started = perf_counter()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = getattr(scope.get("route"), "path", None)
            attributes["http.response.status_code"] = status[0]
            if route:
                attributes["http.route"] = route
                span.update_name(f"{method} {route}")
            span.set_attributes(attributes)
            self.duration.record(perf_counter() - started, attributes)
            span.end()
            otel_context.detach(token)


def build(mode: str) -> ASGIApp:
    if mode not in MODES:
        raise ValueError(f"BENCH_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "bare":
        return endpoint_app(NATIVE_OFF)
    configure_telemetry()
    if mode == "fastapi":
        return endpoint_app()
    if mode == "contrib":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        app = endpoint_app()
        FastAPIInstrumentor.instrument_app(app)
        return app
    if mode == "minimal":
        return OneSpanMiddleware(endpoint_app(NATIVE_OFF))
    from autobot_apm.asgi import APMMiddleware, instrument_fastapi

    if mode == "apm_add":
        app = endpoint_app()
        app.add_middleware(APMMiddleware)
        return app
    if mode == "apm_wrap":
        return APMMiddleware(endpoint_app())
    return instrument_fastapi(endpoint_app())


app = build(os.environ.get("BENCH_MODE", "bare"))
record_collections()  # after the app is built: BENCH_GC_FREEZE freezes it too
