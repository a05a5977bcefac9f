"""The services of the cross-service test, in the shape of the original deployment.

Each runs as its own uvicorn process with its own ``service.name`` and address::

    python tests/e2e/services.py main --host 127.0.0.3 --port 8001 \\
        --otlp http://127.0.0.1:4318 --ai http://127.0.0.4:8002 --redis redis://127.0.0.1:6379

* ``frontend``  GET /pages/{page_id}: calls main over HTTP with requests (a sync
  endpoint, so the call is made on a thread of FastAPI's pool);
* ``main``      POST /chat/{conversation_id}: calls ai over HTTP with httpx (async),
  pushes a job to the Redis list ``jobs`` and records the chat in a background task;
* ``ai``        POST /generate/{model} and POST /embed/{model};
* ``worker``    pops jobs from Redis and, for each, calls ai from a thread pool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis.asyncio as aioredis
import requests
import uvicorn
from fastapi import BackgroundTasks, FastAPI

import autobot_apm as apm
from autobot_apm.asgi import instrument_fastapi
from autobot_apm.http_client import instrument_http_clients
from autobot_apm.messaging import track_message
from autobot_apm.propagation import ContextThreadPoolExecutor, track_background

QUEUE = "jobs"


def frontend(options: argparse.Namespace) -> FastAPI:
    app = FastAPI()

    @app.get("/pages/{page_id}")
    def page(page_id: int) -> dict[str, Any]:
        answer = requests.post(f"{options.main}/chat/{page_id}", json={"text": "hi"}, timeout=10)
        answer.raise_for_status()
        return {"page": page_id, "answer": answer.json()}

    return app


def main(options: argparse.Namespace) -> FastAPI:
    clients: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as http:
            clients["http"] = http
            clients["redis"] = aioredis.from_url(options.redis) if options.redis else None
            yield
            if clients["redis"] is not None:
                await clients["redis"].aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/chat/{conversation_id}")
    async def chat(conversation_id: int, background_tasks: BackgroundTasks) -> dict[str, Any]:
        reply = await clients["http"].post(f"{options.ai}/generate/small", json={"n": 1})
        reply.raise_for_status()
        if clients["redis"] is not None:
            await push_job(clients["redis"], {"conversation": conversation_id})
        background_tasks.add_task(record_chat, conversation_id)
        return {"reply": reply.json()["text"]}

    return app


async def push_job(redis: aioredis.Redis, job: dict[str, Any]) -> None:
    """LPUSH the job with the trace inside it: the worker continues the trace."""
    where = redis.connection_pool.connection_kwargs
    sending = track_message(QUEUE, system="redis", operation="send", carrier=job,
                            server_address=where["host"], server_port=where["port"])  # fmt: skip
    with sending:
        await redis.lpush(QUEUE, json.dumps(job))


@track_background
async def record_chat(conversation_id: int) -> None:
    """Runs after main has answered: a trace of its own, linked to the request."""
    with apm.track_cache("chat-history", operation="set"):
        await asyncio.sleep(0.01)


def ai(options: argparse.Namespace) -> FastAPI:
    app = FastAPI()

    @app.post("/generate/{model}")
    async def generate(model: str) -> dict[str, str]:
        return {"text": f"hello from {model}"}

    @app.post("/embed/{model}")
    async def embed(model: str) -> dict[str, list[float]]:
        return {"vector": [0.1, 0.2]}

    return app


def worker(options: argparse.Namespace) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        consumer = asyncio.create_task(consume(options))
        yield
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer

    return FastAPI(lifespan=lifespan)


async def consume(options: argparse.Namespace) -> None:
    redis = aioredis.from_url(options.redis)
    try:
        with ContextThreadPoolExecutor(2) as pool:
            while True:
                popped = await redis.brpop([QUEUE], timeout=1)
                if popped is None:
                    continue
                job = json.loads(popped[1])
                with track_message(QUEUE, system="redis", operation="process", carrier=job):
                    await asyncio.wrap_future(pool.submit(embed_job, options.ai, job))
    finally:
        await redis.aclose()


def embed_job(ai_url: str, job: dict[str, Any]) -> None:
    """Runs on a pool thread; the context came along, so its request joins the trace."""
    with httpx.Client(timeout=10) as http:
        http.post(f"{ai_url}/embed/small", json=job).raise_for_status()


SERVICES = {"frontend": frontend, "main": main, "ai": ai, "worker": worker}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--otlp", required=True, help="OTLP/HTTP base URL")
    parser.add_argument("--main", help="base URL of main (frontend)")
    parser.add_argument("--ai", help="base URL of ai (main, worker)")
    parser.add_argument("--redis", help="Redis URL (main, worker); none: no queue")
    return parser.parse_args()


def run() -> None:
    options = parse_arguments()
    apm.configure(service_name=options.service, endpoint=options.otlp, protocol="http/protobuf",
                  span_schedule_delay=0.1, metric_export_interval=0.5)  # fmt: skip
    instrument_http_clients()
    app = instrument_fastapi(SERVICES[options.service](options))
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    run()
