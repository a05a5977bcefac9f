"""An ASGI application served by gunicorn in tests/e2e/test_gunicorn.py.

It configures autobot-apm at import, as applications do: with ``gunicorn --preload`` that
happens once, in the master, before the workers are forked. The collector address and
the export delay come from the standard ``OTEL_*`` environment variables. Each response
names the worker process that answered it.
"""

import asyncio
import os

import autobot_apm as apm
from autobot_apm.asgi import APMMiddleware

apm.configure(service_name="gunicorn-app")


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
    body = str(os.getpid()).encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = APMMiddleware(_worker_pid)
