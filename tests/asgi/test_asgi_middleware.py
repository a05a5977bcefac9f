"""APMMiddleware: one server span and one duration record per request, named by route."""

import asyncio
import contextlib

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from autobot_apm._tracking import runtime as _runtime
from autobot_apm.asgi import APMMiddleware
from autobot_apm.testing import Capture

DURATION = "http.server.request.duration"


class InventoryError(Exception):
    """An application error with a recognisable type."""


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int):
        return {"id": item_id}

    @app.get("/missing")
    async def missing():
        raise HTTPException(status_code=404)

    @app.get("/unavailable")
    async def unavailable():
        return PlainTextResponse("busy", status_code=503)

    @app.get("/fail")
    async def fail():
        raise InventoryError("the database is gone")

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    return app


def http_client(app, *, raise_app_exceptions=False):
    transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(apm_capture: Capture):
    async with http_client(APMMiddleware(build_app())) as test_client:
        yield test_client


class TestSpanName:
    async def test_named_by_route_template_never_raw_path(self, client, apm_capture):
        """`GET /items/{item_id}` for /items/42: the template, not the path."""
        await client.get("/items/42")
        span = apm_capture.span("GET /items/{item_id}")
        assert SpanKind.SERVER == span.kind
        assert "/items/{item_id}" == span.attributes["http.route"]
        assert "/items/42" == span.attributes["url.path"]

    async def test_unmatched_path_named_by_method_alone(self, client, apm_capture):
        """A 404 without a matched route is `GET`, with no http.route."""
        assert 404 == (await client.get("/no/such/page")).status_code
        (span,) = apm_capture.spans
        assert "GET" == span.name
        assert "http.route" not in span.attributes

    async def test_unknown_method_becomes_other(self, client, apm_capture):
        """A made-up method is `_OTHER` (span `HTTP {route}`), the original kept on the span."""
        await client.request("BREW", "/items/1")
        span = apm_capture.span("HTTP /items/{item_id}")
        assert "_OTHER" == span.attributes["http.request.method"]
        assert "BREW" == span.attributes["http.request.method_original"]
        assert 1 == apm_capture.histogram_count(DURATION, {"http.request.method": "_OTHER"})

    async def test_one_span_per_request_without_send_or_receive_spans(self, client, apm_capture):
        """Exactly one span per request: no `http send` / `http receive` children."""
        for item in range(3):
            await client.get(f"/items/{item}")
        assert ["GET /items/{item_id}"] * 3 == [span.name for span in apm_capture.spans]


class TestStatus:
    async def test_server_error_response_marks_error(self, client, apm_capture):
        """A 503 response: span status ERROR and error.type "503"."""
        await client.get("/unavailable")
        span = apm_capture.span("GET /unavailable")
        assert StatusCode.ERROR == span.status.status_code
        assert ("503", 503) == (
            span.attributes["error.type"],
            span.attributes["http.response.status_code"],
        )

    async def test_client_error_is_not_a_server_error(self, client, apm_capture):
        """A 404 leaves the server span's status unset and sets no error.type."""
        await client.get("/missing")
        span = apm_capture.span("GET /missing")
        assert StatusCode.UNSET == span.status.status_code
        assert "error.type" not in span.attributes
        assert 404 == span.attributes["http.response.status_code"]

    async def test_unhandled_exception_recorded_500_and_reraised(self, apm_capture):
        """The exception is recorded with its type, counts as 500 and reaches the server."""
        async with http_client(APMMiddleware(build_app()), raise_app_exceptions=True) as tc:
            with pytest.raises(InventoryError, match="the database is gone"):
                await tc.get("/fail")
        span = apm_capture.span("GET /fail")
        assert StatusCode.ERROR == span.status.status_code
        assert "test_asgi_middleware.InventoryError" == span.attributes["error.type"]
        assert 500 == span.attributes["http.response.status_code"]
        assert ["exception"] == [event.name for event in span.events]

    async def test_exception_before_any_response_is_a_500(self, apm_capture):
        """An app that raises before sending anything: 500, the same exception re-raised."""
        failure = InventoryError("early")

        async def app(scope, receive, send):
            raise failure

        with pytest.raises(InventoryError) as raised:
            await APMMiddleware(app)(http_scope(), no_body, discard)
        assert failure is raised.value
        assert 500 == apm_capture.spans[0].attributes["http.response.status_code"]

    async def test_app_that_returns_without_responding_is_a_500(self, apm_capture):
        """No response at all: the server answers 500, and so does the span."""

        async def silent(scope, receive, send):
            return None

        await APMMiddleware(silent)(http_scope(), no_body, discard)
        (span,) = apm_capture.spans
        assert ("500", 500) == (
            span.attributes["error.type"],
            span.attributes["http.response.status_code"],
        )

    async def test_failure_after_the_response_started_is_an_error(self, apm_capture):
        """A stream that breaks after its 200 was sent: an error, with the exception's type."""

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            raise InventoryError("lost the rest")

        with pytest.raises(InventoryError):
            await APMMiddleware(app)(http_scope(), no_body, discard)
        (span,) = apm_capture.spans
        assert StatusCode.ERROR == span.status.status_code
        assert ("test_asgi_middleware.InventoryError", 200) == (
            span.attributes["error.type"],
            span.attributes["http.response.status_code"],
        )

    async def test_response_left_unfinished_is_an_error(self, apm_capture):
        """An app that returns in the middle of its body: error.type incomplete_response."""

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})

        await APMMiddleware(app)(http_scope(), no_body, discard)
        (span,) = apm_capture.spans
        assert ("incomplete_response", StatusCode.ERROR) == (
            span.attributes["error.type"],
            span.status.status_code,
        )


class TestDurationMetric:
    async def test_one_record_per_request_by_route_method_status(self, client, apm_capture):
        """http.server.request.duration: one record per request, with low-cardinality keys."""
        await client.get("/items/1")
        await client.get("/items/2")
        await client.get("/missing")
        attributes = {"http.route": "/items/{item_id}", "http.request.method": "GET",
                      "http.response.status_code": 200, "url.scheme": "http"}  # fmt: skip
        assert 2 == apm_capture.histogram_count(DURATION, attributes)
        assert 1 == apm_capture.histogram_count(DURATION, {"http.response.status_code": 404})
        assert 3 == apm_capture.histogram_count(DURATION)

    async def test_failure_records_error_type(self, client, apm_capture):
        """An unhandled exception is counted under its error.type, with status 500."""
        await client.get("/fail")
        wanted = {
            "error.type": "test_asgi_middleware.InventoryError",
            "http.response.status_code": 500,
        }
        assert 1 == apm_capture.histogram_count(DURATION, wanted)

    async def test_raw_paths_never_become_metric_attributes(self, client, apm_capture):
        """No attribute of any duration point carries the concrete path."""
        await client.get("/items/31337")
        (point,) = apm_capture.metric_points(DURATION)
        assert not any("31337" in str(value) for value in point.attributes.values())


class TestPassThrough:
    async def test_lifespan_is_untouched(self, apm_capture):
        """Startup and shutdown run through the middleware; no span, no metric."""
        events = []

        @contextlib.asynccontextmanager
        async def lifespan(app):
            events.append("startup")
            yield
            events.append("shutdown")

        app = Starlette(lifespan=lifespan)
        incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent = await call(APMMiddleware(app), {"type": "lifespan", "asgi": {"version": "3.0"}},
                          incoming)  # fmt: skip
        assert ["startup", "shutdown"] == events
        assert ["lifespan.startup.complete", "lifespan.shutdown.complete"] == types(sent)
        assert [] == apm_capture.spans

    async def test_websocket_is_untouched(self, apm_capture):
        """A websocket echoes through the middleware and makes no span or metric."""

        async def echo(websocket):
            await websocket.accept()
            await websocket.send_text(await websocket.receive_text())
            await websocket.close()

        app = Starlette(routes=[WebSocketRoute("/ws", echo)])
        incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "ping"}]
        sent = await call(APMMiddleware(app), websocket_scope("/ws"), incoming)
        assert ["websocket.accept", "websocket.send", "websocket.close"] == types(sent)
        assert "ping" == sent[1]["text"]
        assert [] == apm_capture.spans
        assert 0 == apm_capture.histogram_count(DURATION)

    async def test_unconfigured_requests_pass_untouched(self):
        """With telemetry not configured the scope reaches the app exactly as sent."""
        seen = {}

        async def app(scope, receive, send):
            seen.update(scope)
            await PlainTextResponse("ok")(scope, receive, send)

        previous = _runtime.install(None)
        try:
            sent = await call(APMMiddleware(app), http_scope())
        finally:
            _runtime.install(previous)
        assert b"ok" == sent[1]["body"]
        assert http_scope().keys() == seen.keys()

    async def test_scope_keys_are_removed_after_the_request(self, apm_capture):
        """The keys the middleware adds to the scope are gone once the request is over."""
        scope = http_scope()
        await call(APMMiddleware(PlainTextResponse("ok")), scope)
        assert http_scope().keys() == scope.keys()
        assert 1 == len(apm_capture.spans)


class TestContainment:
    async def test_internal_fault_serves_the_request_untracked(self, apm_capture, monkeypatch):
        """A bug in the middleware costs the request's telemetry, never the response."""
        monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")

        def broken(*args, **kwargs):
            raise RuntimeError("bug in the instrumentation")

        monkeypatch.setattr("autobot_apm.asgi.build_options", broken)
        app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("fine"))])
        async with http_client(APMMiddleware(app)) as test_client:
            assert "fine" == (await test_client.get("/")).text
        assert [] == apm_capture.spans


# --- raw ASGI helpers -------------------------------------------------------------------


def http_scope(path="/", headers=(), method="GET"):
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test.local"), *headers],
        "client": ("192.0.2.10", 50000), "server": ("test.local", 80),
    }  # fmt: skip


def websocket_scope(path):
    scope = http_scope(path)
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    del scope["method"]
    return scope


async def call(app, scope, incoming=()):
    """Run ``app`` on ``scope``, feeding ``incoming`` messages; return what it sent."""
    queue = list(incoming) or [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        if queue:
            return queue.pop(0)
        await asyncio.sleep(0)
        return {"type": "http.disconnect" if scope["type"] == "http" else "websocket.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


def types(messages):
    return [message["type"] for message in messages]


async def no_body():
    return {"type": "http.request", "body": b"", "more_body": False}


async def discard(message):
    return None
