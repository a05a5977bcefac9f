"""ASGI and WSGI applications served by gunicorn in tests/e2e/test_gunicorn.py and
tests/e2e/test_fork_matrix.py.

It configures autobot-apm at import, as applications do: with ``gunicorn --preload`` that
happens once, in the master, before the workers are forked; the master makes one tracked
call then, so that its own instance id reaches the collector. The collector address, the
protocol and the export delay come from the standard ``OTEL_*`` environment variables.
Each request makes a tracked call named after the worker (``get worker-<pid>``), and each
response names the worker process that answered it.
"""

import asyncio
import os
import time

import autobot_apm as apm
from autobot_apm.asgi import APMMiddleware

apm.configure(service_name="gunicorn-app")
with apm.track_cache("preload"):
    pass


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _worker_pid(scope, receive, send):
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await asyncio.sleep(0.02)  # a little work, so that concurrent requests spread out
    body = _tracked_work()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = APMMiddleware(_worker_pid)


def _tracked_work():
    with apm.track_cache(f"worker-{os.getpid()}"):
        return str(os.getpid()).encode()


def wsgi_app(environ, start_response):
    """The same answer for gunicorn's sync workers."""
    time.sleep(0.02)  # a little work, so that concurrent requests spread out
    body = _tracked_work()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
