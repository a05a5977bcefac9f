"""The backend service: every tracker at work behind one API.

``POST /api/ask`` is the request the demo shows in full: a cache look-up (a miss the first
time, then the database and a cache write), a streamed answer from the LLM service read
chunk by chunk under ``track_llm`` (so the time to the first chunk is measured), and a
follow-up job handed to the worker through a queue under ``track_message``, which carries
the trace inside the message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import autobot_apm as apm
from autobot_apm.llm import LlmTracker

from .store import Catalogue

PRODUCTS_CACHE = "products"
JOBS_QUEUE = "follow-ups"
QUEUE_SYSTEM = "demo_queue"  # the worker's in-memory queue, fed over HTTP

CACHE_GET = apm.track_cache(PRODUCTS_CACHE)
CACHE_SET = apm.track_cache(PRODUCTS_CACHE, operation="set")


class Question(BaseModel):
    product_id: int
    question: str
    model: str = "demo-mini"


class ModelUnavailableError(Exception):
    """The LLM service refused the request (the demo's planned failure)."""


class Backend:
    """The backend's clients: the cache and LLM services, the worker's queue, the database."""

    def __init__(self, peers: dict[str, str]) -> None:
        self.peers = peers
        self.http = httpx.AsyncClient(timeout=10.0)
        self.catalogue = Catalogue()
        self._llm_trackers: dict[str, LlmTracker] = {}

    async def product(self, product_id: int) -> dict[str, Any] | None:
        """Read through the cache: on a miss, load from the database and cache the row."""
        url = f"{self.peers['cache']}/cache/product:{product_id}"
        async with CACHE_GET as look_up:
            cached = (await self.http.get(url)).json()["value"]
            if cached is None:
                look_up.miss()
            else:
                look_up.hit()
        if cached is not None:
            return dict(cached)
        product = await self.catalogue.product(product_id)
        if product is not None:
            async with CACHE_SET:
                (await self.http.put(url, json={"value": product})).raise_for_status()
        return product

    async def answer(self, model: str, prompt: str) -> str:
        """Stream an answer from the LLM service; each chunk is reported as it arrives."""
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]}
        words: list[str] = []
        async with self._llm(model) as call:
            url = f"{self.peers['llm']}/v1/chat/completions"
            async with self.http.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    detail = json.loads(await response.aread()).get("error", "no detail")
                    raise ModelUnavailableError(detail)
                async for chunk in _server_sent_events(response):
                    call.chunk(chunk)  # reads usage and the model from the chunk too
                    words.extend(c["delta"].get("content", "") for c in chunk["choices"])
        return "".join(words).strip()

    async def enqueue(self, job: dict[str, Any]) -> None:
        """Hand a job to the worker; the send span's trace context travels in the job."""
        sending = apm.track_message(JOBS_QUEUE, system=QUEUE_SYSTEM, operation="send", carrier=job)
        async with sending:
            (await self.http.post(f"{self.peers['worker']}/jobs", json=job)).raise_for_status()

    def _llm(self, model: str) -> LlmTracker:
        tracker = self._llm_trackers.get(model)
        if tracker is None:
            address = urlsplit(self.peers["llm"])
            tracker = self._llm_trackers[model] = apm.track_llm(
                provider="openai",  # the LLM service speaks the OpenAI chat API
                model=model,
                server_address=address.hostname,
                server_port=address.port,
                stream=True,
            )
        return tracker

    async def close(self) -> None:
        await self.http.aclose()
        self.catalogue.close()


async def _server_sent_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk: dict[str, Any] = json.loads(line.removeprefix("data: "))
            yield chunk


def build_backend(peers: dict[str, str]) -> FastAPI:
    backend = Backend(peers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await backend.close()

    app = FastAPI(title="demo backend", lifespan=lifespan)

    @app.get("/api/products/{product_id}")
    async def get_product(product_id: int) -> dict[str, Any]:
        product = await backend.product(product_id)
        if product is None:
            raise HTTPException(404, f"no product {product_id}")
        return product

    @app.post("/api/ask")
    async def ask(question: Question) -> dict[str, Any]:
        product = await get_product(question.product_id)
        prompt = f"{question.question} (about the {product['name']}, {product['price']} EUR)"
        try:
            answer = await backend.answer(question.model, prompt)
        except ModelUnavailableError as exc:
            raise HTTPException(502, f"the LLM service failed: {exc}") from exc
        await backend.enqueue({"kind": "follow-up", "product_id": product["id"]})
        return {"product": product["name"], "answer": answer}

    @app.get("/api/report")
    async def report() -> list[dict[str, Any]]:
        return await backend.catalogue.sales_report()

    return app
