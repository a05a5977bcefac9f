"""Per-request cost of each way of instrumenting FastAPI, in process, without a server.

The uvicorn benchmark (``bench_middleware``) answers "how many requests per second",
but its figures move with everything else the machine runs. Here the same application
is called directly as an ASGI app, each request a fresh scope, in interleaved rounds,
so that the cost of the instrumentation itself is measured to the microsecond. Spans go
to a batch processor with a null exporter: export costs are in the uvicorn figures.

    python -m benchmarks.bench_asgi [--quick] [--clock cpu]
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace

from ._app import NATIVE_OFF, OneSpanMiddleware, endpoint_app
from ._harness import Settings, Variant, command_line, measure, table, verdict
from ._peers import CONTRIB_FASTAPI, installed
from ._sdk import Pipeline, pipeline, use

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/items/42",
    "raw_path": b"/items/42",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
MINIMAL = "hand-written one-span middleware"
BARE = "uninstrumented (FastAPI telemetry off)"


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def requests(app: Any, loop: asyncio.AbstractEventLoop, sdk: Pipeline) -> Callable[[int], None]:
    """``run(n)``: ``n`` requests through ``app``, each with its own scope."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def many(count: int) -> None:
        for _ in range(count):
            await app(dict(SCOPE), _receive, send)

    def run(count: int) -> None:
        use(sdk.runtime)
        statuses.clear()
        loop.run_until_complete(many(count))
        if statuses and statuses[-1] != 200:
            raise RuntimeError(f"the app answered {statuses[-1]}")

    return run


def apps() -> dict[str, Any]:
    """Each instrumented variant of the one-endpoint app, by label."""
    from autobot_apm.asgi import APMMiddleware, instrument_fastapi

    built: dict[str, Any] = {
        BARE: endpoint_app(NATIVE_OFF),
        "FastAPI native telemetry (defaults)": endpoint_app(),
        "FastAPI native telemetry, server span only": endpoint_app({"operation_spans": False}),
        MINIMAL: OneSpanMiddleware(endpoint_app(NATIVE_OFF)),
        "autobot-apm instrument_fastapi": instrument_fastapi(endpoint_app()),
        "autobot-apm app.add_middleware(APMMiddleware)": added(endpoint_app()),
        "autobot-apm APMMiddleware(app) around it": APMMiddleware(endpoint_app()),
        "autobot-apm APMMiddleware, native telemetry off": APMMiddleware(endpoint_app(NATIVE_OFF)),
    }
    if installed(CONTRIB_FASTAPI, "opentelemetry-instrumentation-fastapi"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        contrib = endpoint_app()
        FastAPIInstrumentor.instrument_app(contrib)
        built["official OpenTelemetry FastAPI instrumentation"] = contrib
    return built


def added(app: Any) -> Any:
    """``app.add_middleware(APMMiddleware)``, no telemetry settings given to FastAPI."""
    from autobot_apm.asgi import APMMiddleware

    app.add_middleware(APMMiddleware)
    return app


def run(quick: bool, clock: str = "cpu") -> str:
    sdk = pipeline()
    # FastAPI's telemetry, the contrib instrumentation and the minimal middleware use the
    # global providers: make them the benchmark's, so every variant shares one pipeline.
    trace.set_tracer_provider(sdk.tracer_provider)
    metrics.set_meter_provider(sdk.meter_provider)
    loop = asyncio.new_event_loop()
    try:
        variants = [Variant(name, requests(app, loop, sdk)) for name, app in apps().items()]
        results = measure(variants, MINIMAL, Settings.for_mode(quick, clock))
    finally:
        use(None)
        loop.close()
        sdk.close()
    found = {r.name: r for r in results}
    ours = found["autobot-apm instrument_fastapi"]
    lines = [
        table(
            "One request through the ASGI app, in process (ratios to the hand-written middleware)",
            results,
            MINIMAL,
            added_over=BARE,
        ),
        "",
        verdict("instrument_fastapi vs the hand-written one-span middleware", ours.ratio, 1.0),
    ]
    return "\n".join(lines)


def main() -> None:
    command_line(__doc__ or "", run)


if __name__ == "__main__":
    main()
