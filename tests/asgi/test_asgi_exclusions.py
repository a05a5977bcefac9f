"""APMMiddleware's excluded URLs: health checks get no span and no metric."""

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from autobot_apm._sdk.settings import resolve
from autobot_apm.asgi import APMMiddleware
from autobot_apm.testing import Capture, capture_telemetry

DURATION = "http.server.request.duration"


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int):
        return {"id": item_id}

    @app.get("/missing")
    async def missing():
        raise HTTPException(status_code=404)

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    return app


def http_client(app):
    transport = httpx.ASGITransport(app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(apm_capture: Capture):
    async with http_client(APMMiddleware(build_app())) as test_client:
        yield test_client


class TestExcludedUrls:
    async def test_health_checks_get_no_span_and_no_metric(self, client, apm_capture):
        """The default list skips /healthz for both traces and metrics."""
        assert 200 == (await client.get("/healthz")).status_code
        assert [] == apm_capture.spans
        assert 0 == apm_capture.histogram_count(DURATION)

    async def test_argument_replaces_the_default_list(self, apm_capture):
        """excluded_urls=[...] excludes those, and /healthz is then tracked."""
        app = APMMiddleware(build_app(), excluded_urls=[r"/items/\d+$"])
        async with http_client(app) as test_client:
            await test_client.get("/items/7")
            await test_client.get("/healthz")
        assert ["GET /healthz"] == [span.name for span in apm_capture.spans]

    async def test_comma_separated_string_is_accepted(self, apm_capture):
        """The argument takes the environment variable's form, too."""
        app = APMMiddleware(build_app(), excluded_urls="/items/1$, /missing")
        async with http_client(app) as test_client:
            for path in ("/items/1", "/missing", "/items/2"):
                await test_client.get(path)
        assert ["GET /items/{item_id}"] == [span.name for span in apm_capture.spans]

    async def test_pattern_is_searched_in_the_full_url(self, apm_capture):
        """Patterns see `scheme://host/path`, so a host can be excluded."""
        app = APMMiddleware(build_app(), excluded_urls=["^http://internal\\."])
        async with http_client(app) as test_client:
            await test_client.get("/items/1", headers={"host": "internal.example"})
            await test_client.get("/items/1", headers={"host": "api.example"})
        assert ["api.example"] == [s.attributes["server.address"] for s in apm_capture.spans]

    async def test_configured_setting_applies_when_no_argument(self):
        """Without an argument, the configured excluded_urls setting is used."""
        with capture_telemetry(excluded_urls=["/items/"]) as capture:
            async with http_client(APMMiddleware(build_app())) as test_client:
                await test_client.get("/items/5")
                await test_client.get("/healthz")
            assert ["GET /healthz"] == [span.name for span in capture.spans]

    async def test_environment_variable_reaches_the_middleware(self, apm_capture):
        """OTEL_PYTHON_FASTAPI_EXCLUDED_URLS, resolved by configure(), is honoured."""
        apm_capture.runtime.settings = resolve(
            {}, environ={"OTEL_PYTHON_FASTAPI_EXCLUDED_URLS": "/items/9$,/missing"}
        )
        async with http_client(APMMiddleware(build_app())) as tc:
            for path in ("/items/9", "/missing", "/items/8"):
                await tc.get(path)
        assert ["/items/8"] == [span.attributes["url.path"] for span in apm_capture.spans]

    async def test_empty_list_excludes_nothing(self, apm_capture):
        """excluded_urls=() tracks health checks as well."""
        async with http_client(APMMiddleware(build_app(), excluded_urls=())) as test_client:
            await test_client.get("/healthz")
        assert ["GET /healthz"] == [span.name for span in apm_capture.spans]
