"""The work APMMiddleware does per request, counted (never timed).

A request is ended once, and no containment wrapper (``@contained``'s ``guarded``) sits
on its path: both ran twice per request before, a measurable share of our cost. Its
objects are freed by reference counting as it ends: it leaves no cyclic garbage, which
only the collector could free, and nothing of it stays alive through its context.
"""

import asyncio
import contextlib
import contextvars
import gc
import sys
import weakref
from collections import Counter

import pytest
from fastapi import FastAPI

import autobot_apm as apm
from autobot_apm.asgi import APMMiddleware, instrument_fastapi
from autobot_apm.testing import Capture

SCOPE = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
    "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
    "headers": [(b"host", b"test.local")], "client": ("192.0.2.10", 50000),
    "server": ("test.local", 80),
}  # fmt: skip


async def hello(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


async def one_request(app):
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    await app(dict(SCOPE), receive, send)


def calls_during_one_request(app) -> Counter:
    """Python functions of the package called during one request, by name."""
    counted: Counter = Counter()

    def profile(frame, event, arg):
        if event == "call" and "autobot_apm" in frame.f_code.co_filename:
            counted[frame.f_code.co_name] += 1

    asyncio.run(one_request(app))  # the first request builds the options
    sys.setprofile(profile)
    try:
        asyncio.run(one_request(app))
    finally:
        sys.setprofile(None)
    return counted


def test_a_request_is_finished_once_and_runs_no_containment_wrapper(apm_capture: Capture):
    calls = calls_during_one_request(APMMiddleware(hello))
    assert 1 == calls["finish"]
    assert 0 == calls["guarded"]
    assert 2 == len(apm_capture.spans)  # the requests were tracked: the counts are ours


def test_a_fault_starting_the_request_still_serves_it_untracked(apm_capture: Capture, monkeypatch):
    monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")

    def broken(*args, **kwargs):
        raise RuntimeError("bug in the instrumentation")

    monkeypatch.setattr("autobot_apm.asgi.build_options", broken)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(APMMiddleware(hello)(dict(SCOPE), receive, send))
    assert [200, b"hello"] == [sent[0]["status"], sent[1]["body"]]
    assert [] == apm_capture.spans


def test_a_fault_reading_the_response_start_forwards_the_message_unchanged(
    apm_capture: Capture, monkeypatch
):
    monkeypatch.setenv("AUTOBOT_APM_STRICT", "0")

    def broken(self, code):
        raise RuntimeError("bug in the instrumentation")

    monkeypatch.setattr("autobot_apm._http.request.ServerRequest._record_status", broken)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(APMMiddleware(hello)(dict(SCOPE), receive, send))
    assert {"type": "http.response.start", "status": 200, "headers": []} == sent[0]
    assert 1 == len(apm_capture.spans)  # the request is still traced


# --- garbage ------------------------------------------------------------------------------


def fastapi_app(make_cycle: bool = False) -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/items/{item_id}")
    async def read_item(item_id: int):
        if make_cycle:
            loop: list[object] = []
            loop.append(loop)  # garbage only the collector can free
        return {"id": item_id}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("the endpoint failed")

    return app


async def send_requests(app, paths) -> None:
    """One request per path, the application's own exceptions caught, as a server does."""

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    for path in paths:
        scope = {**SCOPE, "path": path, "raw_path": path.encode()}
        # The failing endpoint's error is re-raised after its 500 went out.
        with contextlib.suppress(RuntimeError):
            await app(scope, receive, send)


def cyclic_garbage_of(app, paths) -> list[str]:
    """Type names of what the collector alone can free after requests through ``app``."""

    async def requests_then_collect() -> list[str]:
        await send_requests(app, paths)  # the first requests fill caches, build options
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what a collection finds, to name it
        try:
            await send_requests(app, paths)
            gc.collect()
            return sorted(type(found).__qualname__ for found in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()

    return asyncio.run(requests_then_collect())


PATHS = ["/items/3", "/missing", "/boom", "/items/4"]


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(lambda app: instrument_fastapi(app), id="instrument_fastapi"),
        pytest.param(APMMiddleware, id="APMMiddleware(app)"),
    ],
)
def test_requests_leave_no_cyclic_garbage(apm_capture: Capture, wire):
    """Found, missing and failing requests are freed by reference counting alone."""
    assert [] == cyclic_garbage_of(wire(fastapi_app()), PATHS)
    assert 8 == len(apm_capture.spans)  # tracked: the garbage counted is ours too


def test_the_garbage_check_sees_a_cycle_made_during_a_request(apm_capture: Capture):
    """The check above would fail if a request made a reference cycle."""
    assert ["list"] == cyclic_garbage_of(APMMiddleware(fastapi_app(make_cycle=True)), PATHS[:1])


# --- what a copied context keeps --------------------------------------------------------


class Marker:
    """Something a weak reference can watch (a dict, such as a scope, cannot be)."""


class Connection:
    """The server's side of one request: its receive and send, and the keep-alive timer it
    schedules once the response is complete (which copies the current context)."""

    def __init__(self, timers: list[contextvars.Context]) -> None:
        self.timers = timers

    async def receive(self):
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message):
        if message["type"] == "http.response.body":
            self.timers.append(contextvars.copy_context())  # as uvicorn's call_later does


def test_a_context_copied_during_a_request_keeps_neither_scope_nor_server_alive(
    apm_capture: Capture,
):
    """After the request, its copied context still names its handle, and nothing else:
    the scope and the server's callables are freed as the request ends."""
    timers: list[contextvars.Context] = []

    async def one_request() -> tuple[weakref.ref, weakref.ref]:
        connection = Connection(timers)
        scope = {**SCOPE, "marker": Marker()}
        await APMMiddleware(hello)(scope, connection.receive, connection.send)
        return weakref.ref(scope["marker"]), weakref.ref(connection)

    gc.disable()  # only reference counting frees anything
    try:
        marker, connection = asyncio.run(one_request())
        alive = [marker() is not None, connection() is not None]
    finally:
        gc.enable()
    (timer,) = timers
    handle = timer.run(apm.current_operation)
    assert [False, False] == alive
    assert apm_capture.spans[0].context.trace_id == int(handle.trace_id, 16)
