"""What one request under APMMiddleware records: attributes, headers, context, timing."""

import asyncio

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from opentelemetry import baggage, trace
from opentelemetry.trace import StatusCode

from autobot_apm.asgi import APMMiddleware
from autobot_apm.testing import Capture, capture_telemetry

DURATION = "http.server.request.duration"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


def build_app(seen: dict) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int):
        seen["baggage"] = baggage.get_baggage("tenant")
        seen["span"] = trace.get_current_span()
        return {"id": item_id}

    # The timing tests put the fake clock in seen["clock"]: the work below "takes" time by
    # moving it, so durations are exact.
    @app.get("/stream")
    async def stream():
        async def chunks():
            for _ in range(3):
                await asyncio.sleep(0)
                seen["clock"].advance(0.25)
                yield b"chunk"

        return StreamingResponse(chunks())

    async def background_work():
        seen["clock"].advance(10.0)
        seen["background_ran"] = True

    @app.get("/background")
    async def background(tasks: BackgroundTasks):
        seen["clock"].advance(0.5)
        tasks.add_task(background_work)
        return {"queued": True}

    return app


def http_client(app):
    transport = httpx.ASGITransport(app, client=("192.0.2.10", 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://api.example:8080")


@pytest.fixture
def seen():
    return {}


@pytest.fixture
async def client(apm_capture: Capture, seen):
    async with http_client(APMMiddleware(build_app(seen))) as test_client:
        yield test_client


class TestServerAttributes:
    async def test_semconv_attributes_of_the_server_span(self, client, apm_capture):
        """url.*, server.*, network.*, user agent and client address, as semconv names them."""
        await client.get("/items/3?page=2", headers={"user-agent": "probe/1.0"})
        attributes = apm_capture.span("GET /items/{item_id}").attributes
        expected = {
            "http.request.method": "GET", "url.scheme": "http", "url.path": "/items/3",
            "url.query": "page=2", "server.address": "api.example", "server.port": 8080,
            "network.protocol.version": "1.1", "user_agent.original": "probe/1.0",
            "network.peer.address": "192.0.2.10", "network.peer.port": 50123,
            "client.address": "192.0.2.10", "http.route": "/items/{item_id}",
            "http.response.status_code": 200,
        }  # fmt: skip
        assert expected == dict(attributes)

    async def test_sensitive_query_values_are_redacted(self, client, apm_capture):
        """Signature and credential parameters keep their key; their value is REDACTED."""
        await client.get("/items/1?X-Amz-Signature=s3cr3t&AWSAccessKeyId=AKIA&page=2")
        query = apm_capture.span("GET /items/{item_id}").attributes["url.query"]
        assert "X-Amz-Signature=REDACTED&AWSAccessKeyId=REDACTED&page=2" == query

    async def test_credentials_in_the_host_header_are_not_recorded(self, client, apm_capture):
        """A Host carrying `user:password@` yields no server.address and no secret anywhere."""
        await client.get("/items/1", headers={"host": "bob:hunter2@api.example"})
        attributes = apm_capture.span("GET /items/{item_id}").attributes
        assert "server.address" not in attributes
        assert not any("hunter2" in str(value) for value in attributes.values())

    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"x-forwarded-for": "203.0.113.7, 10.0.0.1"}, "203.0.113.7"),
            ({"forwarded": 'for="[2001:db8::17]:4711";proto=https'}, "2001:db8::17"),
            ({}, "192.0.2.10"),
        ],
    )
    async def test_client_address_is_the_original_client(self, client, apm_capture,
                                                         headers, expected):  # fmt: skip
        """client.address from Forwarded / X-Forwarded-For, else the peer address."""
        await client.get("/items/1", headers=headers)
        span = apm_capture.span("GET /items/{item_id}")
        assert expected == span.attributes["client.address"]
        assert "192.0.2.10" == span.attributes["network.peer.address"]


class TestHeaderCapture:
    async def test_no_headers_recorded_by_default(self, client, apm_capture):
        """Private by default: no http.request.header.* or http.response.header.*."""
        await client.get("/items/1", headers={"x-request-id": "abc"})
        keys = apm_capture.span("GET /items/{item_id}").attributes.keys()
        assert [] == [key for key in keys if ".header." in key]

    async def test_allow_list_with_sanitizing(self, apm_capture, seen):
        """Only allowed headers are recorded; sanitized and credential ones as [REDACTED]."""
        app = APMMiddleware(
            build_app(seen),
            capture_request_headers=["x-request-id", "x-tenant-.*", "authorization"],
            capture_response_headers="content-type",
            sanitize_header_fields=["x-tenant-secret"],
        )
        async with http_client(app) as test_client:
            await test_client.get("/items/1", headers={
                "x-request-id": "abc", "x-tenant-name": "blue", "x-tenant-secret": "s3",
                "authorization": "Bearer t0ken", "x-other": "no",
            })  # fmt: skip
        captured = {
            key: value
            for key, value in apm_capture.span("GET /items/{item_id}").attributes.items()
            if ".header." in key
        }
        expected = {
            "http.request.header.x-request-id": ("abc",),
            "http.request.header.x-tenant-name": ("blue",),
            "http.request.header.x-tenant-secret": ("[REDACTED]",),
            "http.request.header.authorization": ("[REDACTED]",),
            "http.response.header.content-type": ("application/json",),
        }
        assert expected == captured

    async def test_configured_capture_lists_apply(self, seen):
        """The capture settings of configure() apply when the middleware is given none."""
        with capture_telemetry(capture_request_headers=["x-request-id"]) as capture:
            async with http_client(APMMiddleware(build_app(seen))) as test_client:
                await test_client.get("/items/1", headers={"x-request-id": "r-1"})
            span = capture.span("GET /items/{item_id}")
        assert ("r-1",) == span.attributes["http.request.header.x-request-id"]


class TestPropagation:
    async def test_incoming_trace_context_and_baggage_are_continued(self, client, apm_capture,
                                                                    seen):  # fmt: skip
        """traceparent makes the span a child; tracestate is kept; baggage reaches the app."""
        await client.get("/items/1", headers={
            "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "vendor=blue",
            "baggage": "tenant=acme",
        })  # fmt: skip
        span = apm_capture.span("GET /items/{item_id}")
        assert TRACE_ID == format(span.context.trace_id, "032x")
        assert PARENT_ID == format(span.parent.span_id, "016x")
        assert "vendor=blue" == span.context.trace_state.to_header()
        assert "acme" == seen["baggage"]
        assert span.context.span_id == seen["span"].get_span_context().span_id

    async def test_without_traceparent_the_request_starts_a_trace(self, client, apm_capture):
        """No incoming context: a root span, even if the caller's context had a span."""
        with trace.get_tracer("test").start_as_current_span("ambient"):
            await client.get("/items/1")
        assert apm_capture.span("GET /items/{item_id}").parent is None


class TestTiming:
    async def test_streaming_response_is_timed_to_its_last_chunk(
        self, client, apm_capture, apm_clock, seen
    ):
        """Three chunks of 0.25 s each: the span and the metric cover all of them."""
        seen["clock"] = apm_clock
        response = await client.get("/stream")
        assert b"chunk" * 3 == response.content
        span = apm_capture.span("GET /stream")
        assert 750_000_000 == span.end_time - span.start_time
        (point,) = apm_capture.metric_points(DURATION, {"http.route": "/stream"})
        assert 0.75 == point.sum

    async def test_background_tasks_after_the_response_are_not_timed(
        self, client, apm_capture, apm_clock, seen
    ):
        """The request ends with its last byte: a 10 s background task is not in it."""
        seen["clock"] = apm_clock
        await client.get("/background")
        assert seen["background_ran"]
        span = apm_capture.span("GET /background")
        assert 500_000_000 == span.end_time - span.start_time
        (point,) = apm_capture.metric_points(DURATION, {"http.route": "/background"})
        assert 0.5 == point.sum


class TestServerTiming:
    async def test_off_by_default(self, client):
        """No Server-Timing header unless asked for."""
        assert "server-timing" not in (await client.get("/items/1")).headers

    async def test_carries_the_traceparent_of_the_server_span(self, apm_capture, seen):
        """server_timing=True: `traceparent;desc="00-<trace>-<span>-<flags>"` names this span."""
        async with http_client(APMMiddleware(build_app(seen), server_timing=True)) as tc:
            response = await tc.get("/items/1")
        context = apm_capture.span("GET /items/{item_id}").context
        flags = int(context.trace_flags)
        assert flags & 0x01  # sampled
        ids = f"{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
        expected = f'traceparent;desc="00-{ids}"'
        assert expected == response.headers["server-timing"]

    async def test_application_server_timing_is_kept(self, apm_capture):
        """An app's own Server-Timing entries stay; ours is added beside them."""

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"server-timing", b"db;dur=53")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b"ok"})

        async with http_client(APMMiddleware(app, server_timing=True)) as test_client:
            response = await test_client.get("/")
        values = response.headers.get_list("server-timing")
        assert "db;dur=53" == values[0]
        assert values[1].startswith("traceparent;desc=")


class TestDisconnect:
    async def test_client_leaving_mid_response_is_cancelled_not_failed(self, apm_capture):
        """The client disconnects before the body: status unset, error.type cancelled."""

        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while (await receive())["type"] != "http.disconnect":
                pass

        messages = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]

        async def receive():
            return messages.pop(0)

        async def send(message):
            return None

        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "scheme": "http"}
        await APMMiddleware(app)(scope, receive, send)
        (span,) = apm_capture.spans
        assert StatusCode.UNSET == span.status.status_code
        assert "cancelled" == span.attributes["error.type"]
        assert 1 == apm_capture.histogram_count(DURATION, {"error.type": "cancelled"})

    async def test_error_raised_by_a_disconnect_is_not_a_failure(self, apm_capture):
        """An exception caused by the client leaving still counts as cancelled; it passes on."""

        class ClientGoneError(Exception):
            pass

        async def app(scope, receive, send):
            await receive()
            raise ClientGoneError

        async def receive():
            return {"type": "http.disconnect"}

        async def send(message):
            return None

        scope = {"type": "http", "method": "POST", "path": "/upload", "headers": []}
        with pytest.raises(ClientGoneError):
            await APMMiddleware(app)(scope, receive, send)
        (span,) = apm_capture.spans
        assert ("cancelled", StatusCode.UNSET) == (
            span.attributes["error.type"],
            span.status.status_code,
        )

    async def test_response_sent_after_the_client_left_is_cancelled(self, apm_capture):
        """The app saw the disconnect and answered anyway: the answer went nowhere."""

        async def app(scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"late"})

        async def receive():
            return {"type": "http.disconnect"}

        async def send(message):
            return None

        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        await APMMiddleware(app)(scope, receive, send)
        (span,) = apm_capture.spans
        assert "cancelled" == span.attributes["error.type"]


class TestAfterTheApplicationReturned:
    async def test_kept_callables_answer_as_a_finished_server_does(self, apm_capture):
        """receive() kept past the return says http.disconnect; send() neither raises nor
        reaches the server."""
        kept = {}

        async def app(scope, receive, send):
            kept.update(receive=receive, send=send)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message["type"])

        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        await APMMiddleware(app)(scope, receive, send)
        assert {"type": "http.disconnect"} == await kept["receive"]()
        assert await kept["send"]({"type": "http.response.body", "body": b"late"}) is None
        assert ["http.response.start", "http.response.body"] == sent
        assert 204 == apm_capture.spans[0].attributes["http.response.status_code"]
