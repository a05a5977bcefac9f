"""track_api stacked with FastAPI's route decorators, in either order.

Below ``@app.get`` (the order that works) it adds to the request's one server span.
Above it, the router has registered the undecorated function and track_api can never
run for the route: that is said at decoration time, or when the middleware first meets
the app for a router it could not see then, never left silent.
"""

import logging

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.trace import SpanKind

import autobot_apm as apm
from autobot_apm.asgi import APMMiddleware, instrument_fastapi

DURATION = "http.server.request.duration"
ABOVE = "stacked above the route decorator"

app = FastAPI()  # module level, where a route decorator's router usually lives
router = APIRouter()


async def get(asgi_app, path, method="GET"):
    transport = httpx.ASGITransport(asgi_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(method, path)


def warnings_about_order(caplog):
    return [r.getMessage() for r in caplog.records if ABOVE in r.getMessage()]


class TestBelowTheRouteDecorator:
    @pytest.mark.parametrize("arrangement", ["instrument_fastapi", "outside", "none"])
    async def test_one_server_span_named_by_the_route(self, apm_capture, caplog, arrangement):
        """Under the middleware, or alone: one server span, one record, the POST kept."""
        service = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

        @service.post("/orders/{order_id}")
        @apm.track_api
        async def create_order(order_id: int):
            return {"order": order_id}

        served = {"instrument_fastapi": instrument_fastapi, "outside": APMMiddleware}
        response = await get(served.get(arrangement, lambda a: a)(service), "/orders/7", "POST")
        assert 200 == response.status_code
        spans = [span for span in apm_capture.spans if span.kind is SpanKind.SERVER]
        expected = "POST /orders/{order_id}" if arrangement != "none" else "HTTP"
        assert [expected] == [span.name for span in spans]
        assert 1 == len(apm_capture.spans)
        assert 1 == apm_capture.histogram_count(DURATION)
        assert [] == warnings_about_order(caplog)


class TestAboveTheRouteDecorator:
    def test_said_at_decoration_time(self, caplog):
        """Above @app.get on a module-level app: a warning names the function and route."""

        @apm.track_api
        @app.get("/above/{item_id}")
        async def read_above(item_id: int):
            return {"id": item_id}

        (message,) = warnings_about_order(caplog)
        assert "read_above" in message
        assert "/above/{item_id}" in message
        assert "below @app.get/@app.post" in message

    def test_said_for_an_apirouter_too(self, caplog):
        """The same for a module-level APIRouter."""

        @apm.track_api("/routed", "GET")
        @router.get("/routed")
        async def routed():
            return {}

        assert 1 == len(warnings_about_order(caplog))

    async def test_said_when_the_middleware_meets_an_app_built_in_a_factory(
        self, apm_capture, caplog
    ):
        """A router local to a function is out of sight at decoration; the middleware
        names the route at its first request. The request itself is still traced once."""

        def create_app():
            local = FastAPI()

            @apm.track_api
            @local.get("/local")
            async def local_route():
                return {}

            return local

        factory_app = create_app()
        assert [] == warnings_about_order(caplog)
        await get(instrument_fastapi(factory_app), "/local")
        await get(factory_app, "/local")
        (message,) = warnings_about_order(caplog)
        assert "local_route" in message
        assert ["GET /local"] * 2 == [span.name for span in apm_capture.spans]
        assert 2 == apm_capture.histogram_count(DURATION)

    def test_a_tracked_function_that_is_no_endpoint_is_quiet(self, caplog):
        """Decorating a plain function near an app says nothing."""

        @apm.track_api("/jobs", "POST")
        async def not_a_route():
            return None

        assert [] == warnings_about_order(caplog)


@pytest.fixture(autouse=True)
def _warnings_captured(caplog):
    caplog.set_level(logging.WARNING, logger="autobot_apm")
