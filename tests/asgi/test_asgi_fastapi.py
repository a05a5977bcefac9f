"""FastAPI: one server span and one duration record per request, whichever way it is wired.

FastAPI traces itself when it has providers. In these in-process tests it is given the
capture's tracer provider and a meter provider of its own explicitly, which switches its
native telemetry on without global providers; tests/e2e/test_asgi_uvicorn.py checks the
same over the wire, with the global providers that configure() installs.
"""

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import autobot_apm as apm
from autobot_apm.asgi import APMMiddleware, instrument_fastapi, is_excluded_request
from autobot_apm.testing import Capture

DURATION = "http.server.request.duration"


class FastAPIMetrics:
    """The duration records FastAPI's own telemetry makes, read from its meter provider."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def duration_count(self) -> int:
        data = self.reader.get_metrics_data()
        return sum(
            point.count
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == DURATION
            for point in metric.data.data_points
        )


@pytest.fixture
def fastapi_metrics():
    metrics = FastAPIMetrics()
    yield metrics
    metrics.provider.shutdown()


def build_app(capture: Capture | None = None, metrics: FastAPIMetrics | None = None, **telemetry):
    """A FastAPI app whose native telemetry is on when given providers."""
    if capture is not None and metrics is not None:
        telemetry.update(tracer_provider=capture.tracer_provider,
                         meter_provider=metrics.provider, logs=False)  # fmt: skip
    app = FastAPI(telemetry=telemetry or None)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int):
        return {"id": item_id}

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    return app


def http_client(app):
    transport = httpx.ASGITransport(app, client=("192.0.2.10", 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@asynccontextmanager
async def lifespan(app):
    """Run the app's lifespan startup, as a server does before the first request."""
    inbox: asyncio.Queue = asyncio.Queue()
    started = asyncio.Event()
    sent = []

    async def send(message):
        sent.append(message["type"])
        started.set()

    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                   inbox.get, send))  # fmt: skip
    await started.wait()
    assert ["lifespan.startup.complete"] == sent
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await task


async def get(app, *paths):
    async with http_client(app) as client:
        for path in paths:
            await client.get(path, headers={"user-agent": "probe/1.0"})


def server_spans(capture: Capture):
    return [span for span in capture.spans if span.kind is SpanKind.SERVER]


class TestWithNativeTelemetry:
    async def test_wrapped_from_outside(self, apm_capture, fastapi_metrics):
        """APMMiddleware(app): FastAPI steps aside; our span and our record only."""
        await get(APMMiddleware(build_app(apm_capture, fastapi_metrics)), "/items/1", "/items/2")
        spans = server_spans(apm_capture)
        assert ["GET /items/{item_id}"] * 2 == [span.name for span in spans]
        assert {"autobot_apm"} == {span.instrumentation_scope.name for span in spans}
        assert (2, 0) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())
        assert [] == [span.name for span in apm_capture.spans if span.name.startswith("fastapi")]

    async def test_instrument_fastapi(self, apm_capture, fastapi_metrics):
        """instrument_fastapi(app): the same, with the app object itself served."""
        app = instrument_fastapi(build_app(apm_capture, fastapi_metrics))
        await get(app, "/items/1", "/items/2")
        spans = server_spans(apm_capture)
        assert {"autobot_apm"} == {span.instrumentation_scope.name for span in spans}
        assert (2, 0) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())

    async def test_added_with_add_middleware_takes_over_at_lifespan(
        self, apm_capture, fastapi_metrics
    ):
        """add_middleware: at the lifespan startup ours switches FastAPI's off; ours only."""
        app = build_app(apm_capture, fastapi_metrics)
        app.add_middleware(APMMiddleware)
        async with lifespan(app):
            await get(app, "/items/1", "/items/2")
        spans = server_spans(apm_capture)
        assert ["GET /items/{item_id}"] * 2 == [span.name for span in spans]
        assert {"autobot_apm"} == {span.instrumentation_scope.name for span in spans}
        assert ("192.0.2.10", "probe/1.0") == (
            spans[0].attributes["client.address"],
            spans[0].attributes["user_agent.original"],
        )
        assert (2, 0) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())
        assert [] == [span.name for span in apm_capture.spans if span.kind is SpanKind.INTERNAL]
        assert type(app) is FastAPI

    async def test_added_with_add_middleware_without_lifespan(self, apm_capture, fastapi_metrics):
        """No lifespan: the first request adds to FastAPI's span, later ones are ours alone."""
        app = build_app(apm_capture, fastapi_metrics)
        app.add_middleware(APMMiddleware)
        await get(app, "/items/1", "/items/2", "/items/3")
        spans = server_spans(apm_capture)
        assert ["GET /items/{item_id}"] * 3 == [span.name for span in spans]
        assert ["fastapi", "autobot_apm", "autobot_apm"] == [
            span.instrumentation_scope.name for span in spans
        ]
        assert "probe/1.0" == spans[0].attributes["user_agent.original"]
        assert (2, 1) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())

    @pytest.mark.parametrize("arrangement", ["outside", "instrument_fastapi", "add_middleware"])
    async def test_health_checks_reach_neither(self, apm_capture, fastapi_metrics, arrangement):
        """/healthz makes no span and no record, ours or FastAPI's, in every arrangement,
        with no ``exclude`` given to FastAPI."""
        app = build_app(apm_capture, fastapi_metrics)
        if arrangement == "outside":
            app = APMMiddleware(app)
        elif arrangement == "instrument_fastapi":
            app = instrument_fastapi(app)
        else:
            app.add_middleware(APMMiddleware)
        async with lifespan(app):
            await get(app, "/healthz", "/healthz")
        assert [] == apm_capture.spans
        assert (0, 0) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())

    async def test_track_api_in_an_endpoint_adds_to_the_one_span(self, apm_capture,
                                                                 fastapi_metrics):  # fmt: skip
        """A track_api endpoint under the middleware: still one span and one record."""
        app = instrument_fastapi(build_app(apm_capture, fastapi_metrics))

        @app.get("/orders/{order_id}")
        @apm.track_api(route="/orders/{order_id}", method="GET")
        async def read_order(order_id: int):
            return {"order": order_id}

        await get(app, "/orders/7")
        assert ["GET /orders/{order_id}"] == [span.name for span in apm_capture.spans]
        assert (1, 0) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())


class TestInstrumentFastapi:
    def test_the_app_keeps_its_type_and_attributes(self):
        """The instrumented app is still a FastAPI with its routes; it is returned."""
        app = build_app()
        routes = list(app.routes)
        assert app is instrument_fastapi(app)
        assert type(app) is FastAPI
        assert routes == app.routes

    def test_fastapis_own_telemetry_is_switched_off_at_once(self, apm_capture, fastapi_metrics):
        """Before any request or lifespan, FastAPI's telemetry is off for this app only."""
        app, other = (
            build_app(apm_capture, fastapi_metrics),
            build_app(apm_capture, fastapi_metrics),
        )
        instrument_fastapi(app)
        assert not app._native_telemetry.enabled()
        assert other._native_telemetry.enabled()

    async def test_settings_it_cannot_reach_are_reported_and_counted_once(
        self, apm_capture, fastapi_metrics, caplog
    ):
        """A FastAPI that kept its settings elsewhere: a warning, and FastAPI's span is
        enriched, still one span and one record per request."""
        app = build_app(apm_capture, fastapi_metrics)
        app._native_telemetry.config = dict(app._telemetry)  # no longer the same dict
        instrument_fastapi(app)
        await get(app, "/items/1")
        assert any("could not switch off" in r.getMessage() for r in caplog.records)
        assert ["fastapi"] == [s.instrumentation_scope.name for s in server_spans(apm_capture)]
        assert (0, 1) == (apm_capture.histogram_count(DURATION), fastapi_metrics.duration_count())

    def test_an_app_already_serving_is_refused(self):
        """Like add_middleware: a started app's stack is built; Starlette says so."""
        app = build_app()
        app.middleware_stack = app.build_middleware_stack()
        with pytest.raises(RuntimeError, match="after an application has started"):
            instrument_fastapi(app)

    def test_a_plain_function_app_is_refused_clearly(self):
        """A function is no app object to instrument: a TypeError says what to do instead."""

        async def app(scope, receive, send):
            return None

        with pytest.raises(TypeError, match=r"APMMiddleware\(app\)"):
            instrument_fastapi(app)

    async def test_instrumenting_twice_changes_nothing(self, apm_capture):
        """A second call is a no-op: one span per request, not two."""
        app = instrument_fastapi(instrument_fastapi(build_app()))
        await get(app, "/items/1")
        assert ["GET /items/{item_id}"] == [span.name for span in apm_capture.spans]

    async def test_with_add_middleware_as_well_one_span(self, apm_capture):
        """instrument_fastapi plus add_middleware: the inner one lets the request through."""
        app = build_app()
        app.add_middleware(APMMiddleware)
        instrument_fastapi(app)
        await get(app, "/items/1")
        assert 1 == len(apm_capture.spans)
        assert 1 == apm_capture.histogram_count(DURATION)

    async def test_works_on_starlette_too(self, apm_capture):
        """Any Starlette application can be instrumented the same way."""
        app = Starlette(routes=[Route("/users/{name}", lambda r: PlainTextResponse("hi"))])
        await get(instrument_fastapi(app), "/users/ada")
        assert ["GET /users/{name}"] == [span.name for span in apm_capture.spans]

    async def test_app_built_before_configure(self):
        """Instrumenting before telemetry exists is fine: settings are read per runtime."""
        app = instrument_fastapi(build_app(), server_timing=True)
        from autobot_apm.testing import capture_telemetry

        with capture_telemetry() as capture:
            async with http_client(app) as client:
                response = await client.get("/items/1")
            assert 1 == len(capture.spans)
        assert response.headers["server-timing"].startswith("traceparent;desc=")


class TestRouteTemplates:
    async def test_included_router_prefix_is_part_of_the_route(self, apm_capture):
        """include_router(prefix="/api/{version}"): route `/api/{version}/things/{id}`."""
        app = build_app()
        router = APIRouter()

        @router.get("/things/{thing_id}")
        async def thing(thing_id: str):
            return {}

        app.include_router(router, prefix="/api/{version}")
        await get(APMMiddleware(app), "/api/v2/things/abc")
        assert "/api/{version}/things/{thing_id}" == apm_capture.spans[0].attributes["http.route"]

    async def test_mounted_app_route_includes_the_mount_path(self, apm_capture):
        """A sub-app mounted at /admin: route `/admin/users/{name}`."""
        app = build_app()
        admin = Starlette(routes=[Route("/users/{name}", lambda r: PlainTextResponse("hi"))])
        app.mount("/admin", admin)
        await get(APMMiddleware(app), "/admin/users/ada")
        assert "GET /admin/users/{name}" == apm_capture.spans[0].name

    async def test_mount_without_router_is_named_by_its_path_template(self, apm_capture):
        """A mounted plain ASGI app (static files, say) gives `/static/{path}`."""
        app = Starlette(routes=[Mount("/static", app=PlainTextResponse("file"))])
        await get(APMMiddleware(app), "/static/css/site.css")
        assert "GET /static/{path}" == apm_capture.spans[0].name

    async def test_parameterized_mount_gives_no_route(self, apm_capture):
        """A mount path with parameters: no http.route rather than a raw path."""
        tenant = Starlette(routes=[Route("/home", lambda r: PlainTextResponse("hi"))])
        app = Starlette(routes=[Mount("/tenants/{tenant}", app=tenant)])
        await get(APMMiddleware(app), "/tenants/acme/home")
        (span,) = apm_capture.spans
        assert "GET" == span.name
        assert "http.route" not in span.attributes

    async def test_plain_asgi_app_takes_the_route_from_track_api(self, apm_capture):
        """No router: the route named by track_api on the handler names the span and metric."""

        @apm.track_api(route="/reports/{report_id}", method="GET")
        async def handler():
            return None

        async def app(scope, receive, send):
            await handler()
            await PlainTextResponse("ok")(scope, receive, send)

        await get(APMMiddleware(app), "/reports/9")
        assert ["GET /reports/{report_id}"] == [span.name for span in apm_capture.spans]
        assert 1 == apm_capture.histogram_count(DURATION, {"http.route": "/reports/{report_id}"})


class TestIsExcludedRequest:
    @pytest.mark.parametrize(
        ("path", "excluded"),
        [("/healthz", True), ("/api/readyz/", True), ("/metrics", True),
         ("/favicon.ico", True), ("/items/1", False), ("/healthz/details", False)],
    )  # fmt: skip
    def test_default_list(self, apm_capture, path, excluded):
        """Probes, scrapes and the favicon are excluded; everything else is not."""
        scope = {"type": "http", "scheme": "http", "path": path, "headers": []}
        assert excluded is is_excluded_request(scope)

    def test_environment_when_not_configured(self, monkeypatch):
        """Without configure(), OTEL_PYTHON_EXCLUDED_URLS still decides."""
        from autobot_apm._tracking import runtime as _runtime

        monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "/internal/")
        previous = _runtime.install(None)
        try:
            scope = {"type": "http", "scheme": "http", "path": "/internal/x", "headers": []}
            assert is_excluded_request(scope)
            assert not is_excluded_request({**scope, "path": "/healthz"})
        finally:
            _runtime.install(previous)
