"""The work APMMiddleware does per request, counted (never timed).

A request is ended once, and no containment wrapper (``@contained``'s ``guarded``) sits
on its path: both ran twice per request before, a measurable share of our cost.
"""

import asyncio
import sys
from collections import Counter

from autobot_apm.asgi import APMMiddleware
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
