"""The demo's services as FastAPI apps, each instrumented the way a user would do it.

* ``frontend``: the public API; passes each request on to the backend;
* ``backend``: see :mod:`.backend`;
* ``cache``: a key-value store over HTTP (a stand-in for Redis or memcached);
* ``llm``: a fake model speaking the OpenAI chat API, streaming its answer word by word;
  it serves ``demo-mini`` and answers 503 for any other model (the planned failure);
* ``worker``: takes jobs on ``POST /jobs`` into an in-memory queue and processes them in
  the background, each under ``track_message``, continuing the trace of the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

import autobot_apm as apm

from .backend import JOBS_QUEUE, QUEUE_SYSTEM, build_backend

SERVED_MODEL = "demo-mini"
THINKING_SECONDS = 0.08  # before the first token: what time to first chunk measures
SECONDS_PER_TOKEN = 0.01
JOB_SECONDS = 0.03
DRAIN_SECONDS = 5.0  # how long a stopping worker keeps processing queued jobs


def build_app(name: str, peers: dict[str, str]) -> FastAPI:
    """The instrumented app of service ``name``."""
    return apm.instrument_fastapi(BUILDERS[name](peers))


def build_frontend(peers: dict[str, str]) -> FastAPI:
    client = httpx.AsyncClient(base_url=peers["backend"], timeout=15.0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(title="demo frontend", lifespan=lifespan)

    @app.get("/products/{product_id}")
    async def product_page(product_id: int) -> Response:
        return _relay(await client.get(f"/api/products/{product_id}"))

    @app.post("/ask")
    async def ask(request: Request) -> Response:
        return _relay(await client.post("/api/ask", json=await request.json()))

    @app.get("/report")
    async def report() -> Response:
        return _relay(await client.get("/api/report"))

    return app


def _relay(answer: httpx.Response) -> Response:
    """The backend's answer, status included, as this service's answer."""
    return Response(answer.content, answer.status_code, media_type="application/json")


class CacheEntry(BaseModel):
    value: Any


def build_cache(peers: dict[str, str]) -> FastAPI:
    app = FastAPI(title="demo cache")
    entries: dict[str, Any] = {}

    # A miss is an answer, not an error: 200 with a null value, as Redis answers nil.
    @app.get("/cache/{key}")
    async def get(key: str) -> dict[str, Any]:
        return {"value": entries.get(key)}

    @app.put("/cache/{key}")
    async def put(key: str, entry: CacheEntry) -> dict[str, bool]:
        entries[key] = entry.value
        return {"stored": True}

    return app


class ChatRequest(BaseModel):
    model: str
    messages: list[dict[str, str]]


def build_llm(peers: dict[str, str]) -> FastAPI:
    app = FastAPI(title="demo llm")

    @app.post("/v1/chat/completions")
    async def completions(chat: ChatRequest) -> Response:
        if chat.model != SERVED_MODEL:
            error = {"error": f"model {chat.model} is overloaded, try {SERVED_MODEL}"}
            return JSONResponse(error, status_code=503)
        prompt = " ".join(message["content"] for message in chat.messages)
        return StreamingResponse(_stream_answer(prompt), media_type="text/event-stream")

    return app


async def _stream_answer(prompt: str) -> AsyncIterator[str]:
    """OpenAI-style chunks, one word each; the last one carries the token usage."""
    words = f"Good choice. {_topic(prompt)} is well reviewed and ships tomorrow.".split()
    await asyncio.sleep(THINKING_SECONDS)
    for word in words:
        yield _event({"model": SERVED_MODEL, "choices": [{"delta": {"content": word + " "}}]})
        await asyncio.sleep(SECONDS_PER_TOKEN)
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(words)}
    finish = [{"delta": {}, "finish_reason": "stop"}]
    yield _event({"model": SERVED_MODEL, "choices": finish, "usage": usage})
    yield "data: [DONE]\n\n"


def _topic(prompt: str) -> str:
    _, _, about = prompt.partition("(about the ")
    return "The " + about.split(",")[0] if about else "It"


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def build_worker(peers: dict[str, str]) -> FastAPI:
    jobs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        consumer = asyncio.create_task(_consume(jobs))
        yield
        # Jobs already accepted are finished before the worker exits, within a bound.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(jobs.join(), DRAIN_SECONDS)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer

    app = FastAPI(title="demo worker", lifespan=lifespan)

    @app.post("/jobs", status_code=202)
    async def enqueue(job: dict[str, Any]) -> dict[str, int]:
        jobs.put_nowait(job)
        return {"queued": jobs.qsize()}

    return app


async def _consume(jobs: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        job = await jobs.get()
        try:
            # The job carries the sender's trace context: this span continues its trace.
            async with apm.track_message(JOBS_QUEUE, system=QUEUE_SYSTEM, carrier=job):
                await asyncio.sleep(JOB_SECONDS)  # writing the follow-up e-mail
        finally:
            jobs.task_done()


BUILDERS: dict[str, Callable[[dict[str, str]], FastAPI]] = {
    "frontend": build_frontend,
    "backend": build_backend,
    "cache": build_cache,
    "llm": build_llm,
    "worker": build_worker,
}
