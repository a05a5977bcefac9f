"""track_llm around real HTTP calls (httpx) to a fake OpenAI-compatible / Ollama server."""

import asyncio
import json

import httpx
import pytest
from fake_llm_server import SNAPSHOT, FakeLLMServer
from opentelemetry.trace import StatusCode

from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture

MODEL = "gpt-4o-mini"
SPAN = f"chat {MODEL}"
QUESTION = "What is the capital of France?"  # 6 words: 6 input tokens for the fake server
TOKENS = "gen_ai.client.token.usage"
FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
SLOW = {"x-fake-chunks": "100", "x-fake-delay": "0.02"}  # 2 s if read to the end


def openai_body(stream):
    body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}]}
    return {**body, "stream": True, "stream_options": {"include_usage": True}} if stream else body


def sse_events(lines):
    for line in lines:
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line.removeprefix("data: "))


async def async_sse_events(lines):
    async for line in lines:
        if line.startswith("data: ") and line != "data: [DONE]":
            yield json.loads(line.removeprefix("data: "))


# --- user code, as an application would write it ----------------------------------


@track_llm(provider="openai", model=MODEL, server_address="127.0.0.1", temperature=0.3)
def chat(client, headers=None):
    response = client.post("/v1/chat/completions", json=openai_body(False), headers=headers)
    response.raise_for_status()
    return response.json()


@track_llm(provider="openai", model=MODEL, server_address="127.0.0.1")
def chat_stream(client, headers=None):
    body = openai_body(True)
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        response.raise_for_status()
        yield from sse_events(response.iter_lines())


@track_llm(provider="openai", model=MODEL, server_address="127.0.0.1")
async def achat_stream(client, headers=None):
    body = openai_body(True)
    async with client.stream(
        "POST", "/v1/chat/completions", json=body, headers=headers
    ) as response:
        response.raise_for_status()
        async for event in async_sse_events(response.aiter_lines()):
            yield event


@track_llm(provider="openai", model=MODEL, server_address="127.0.0.1")
async def aopen_stream(client):
    """Returns the stream, as SDKs do: the caller iterates it after the call returned."""
    request = client.build_request("POST", "/v1/chat/completions", json=openai_body(True))
    response = await client.send(request, stream=True)

    async def events():
        try:
            async for event in async_sse_events(response.aiter_lines()):
                yield event
        finally:
            await response.aclose()

    return events()


@track_llm(provider="ollama", model="llama3.2", server_address="127.0.0.1")
def ollama_stream(client):
    request = client.build_request(
        "POST",
        "/api/chat",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": QUESTION}]},
    )
    response = client.send(request, stream=True)

    def lines():
        try:
            for line in response.iter_lines():
                yield json.loads(line)
        finally:
            response.close()

    return lines()


@pytest.fixture
def client(fake_llm: FakeLLMServer):
    with httpx.Client(base_url=fake_llm.base_url, timeout=10) as http:
        yield http


@pytest.fixture
async def async_client(fake_llm: FakeLLMServer):
    async with httpx.AsyncClient(base_url=fake_llm.base_url, timeout=10) as http:
        yield http


def text_of(events):
    return "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])


class TestOpenAICompatible:
    def test_json_answer(self, apm_capture: Capture, client):
        """A plain JSON answer: usage, response model and id read from it."""
        answer = chat(client)
        assert "Paris is the capital " == answer["choices"][0]["message"]["content"]
        attributes = apm_capture.span(SPAN).attributes
        assert (6, 4) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
        assert MODEL + SNAPSHOT == attributes["gen_ai.response.model"]
        assert "chatcmpl-fake" == attributes["gen_ai.response.id"]
        assert 0.3 == attributes["gen_ai.request.temperature"]

    def test_full_stream_with_usage_in_the_final_chunk(self, apm_capture: Capture, client):
        """SSE read to [DONE]: usage from the include_usage chunk, first-chunk time."""
        events = list(chat_stream(client))
        assert "Paris is the capital " == text_of(events)
        attributes = apm_capture.span(SPAN).attributes
        assert (6, 4) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
        assert ("stop",) == attributes["gen_ai.response.finish_reasons"]
        assert 0 < attributes["autobot_apm.gen_ai.response.time_to_first_chunk"]
        response_model = {"gen_ai.response.model": MODEL + SNAPSHOT}
        assert 1 == apm_capture.histogram_count(FIRST_CHUNK, response_model)
        assert 2 == apm_capture.histogram_count(TOKENS, response_model)

    def test_early_break(self, apm_capture: Capture, client, fake_llm: FakeLLMServer):
        """Breaking out after one chunk ends the span at once; the connection is dropped.

        The span has ended when the loop is left, and the server sees the client go away
        mid-stream: the rest of the stream was not read first.
        """
        for _ in chat_stream(client, headers=SLOW):
            break
        span = apm_capture.span(SPAN)
        assert StatusCode.UNSET == span.status.status_code
        assert 1 == span.attributes["autobot_apm.gen_ai.response.chunks"]
        assert fake_llm.dropped.wait(5)

    def test_server_failure_mid_stream(self, apm_capture: Capture, client):
        """The connection dies after two chunks: the httpx error passes and is recorded."""
        with pytest.raises(httpx.RemoteProtocolError):
            list(chat_stream(client, headers={"x-fake-fail-after": "2"}))
        span = apm_capture.span(SPAN)
        assert StatusCode.ERROR == span.status.status_code
        assert "httpx.RemoteProtocolError" == span.attributes["error.type"]
        assert 2 == span.attributes["autobot_apm.gen_ai.response.chunks"]
        assert 1 == apm_capture.histogram_count(
            FIRST_CHUNK, {"error.type": "httpx.RemoteProtocolError"}
        )

    def test_http_error_status(self, apm_capture: Capture, client):
        """A 500 answer raised by raise_for_status is recorded with its class."""
        with pytest.raises(httpx.HTTPStatusError):
            chat(client, headers={"x-fake-status": "500"})
        assert "httpx.HTTPStatusError" == apm_capture.span(SPAN).attributes["error.type"]

    async def test_async_stream(self, apm_capture: Capture, async_client):
        """An async generator over httpx's async stream is measured to its end."""
        events = [event async for event in achat_stream(async_client)]
        assert "Paris is the capital " == text_of(events)
        assert 4 == apm_capture.span(SPAN).attributes["gen_ai.usage.output_tokens"]

    async def test_returned_async_stream(self, apm_capture: Capture, async_client):
        """A coroutine returning the stream: the span ends when the caller has read it."""
        stream = await aopen_stream(async_client)
        assert [] == apm_capture.spans
        events = [event async for event in stream]
        assert "Paris is the capital " == text_of(events)
        assert 6 == apm_capture.span(SPAN).attributes["gen_ai.usage.input_tokens"]

    async def test_client_cancellation(
        self, apm_capture: Capture, async_client, fake_llm: FakeLLMServer
    ):
        """Cancelling the consuming task mid-stream records `cancelled`, not an error."""
        first = asyncio.Event()

        async def consume():
            async for _ in achat_stream(async_client, headers=SLOW):
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        span = apm_capture.span(SPAN)
        assert "cancelled" == span.attributes["error.type"]
        assert StatusCode.UNSET == span.status.status_code
        assert await asyncio.to_thread(fake_llm.dropped.wait, 5)


class TestOllama:
    def test_returned_ndjson_stream(self, apm_capture: Capture, client):
        """Ollama's NDJSON: counts, reason and server durations from the done line."""
        lines = list(ollama_stream(client))
        assert lines[-1]["done"] is True
        attributes = apm_capture.span("chat llama3.2").attributes
        assert (6, 4) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
        assert ("stop",) == attributes["gen_ai.response.finish_reasons"]
        assert 0.15 == attributes["autobot_apm.gen_ai.server.eval_duration"]
        assert 5 == attributes["autobot_apm.gen_ai.response.chunks"]

    def test_with_block_and_chunks(self, apm_capture: Capture, client):
        """The `with` form: op.chunk(line) for each NDJSON line."""
        body = {"model": "llama3.2", "messages": [{"role": "user", "content": QUESTION}]}
        with (
            track_llm(provider="ollama", model="llama3.2") as op,
            client.stream("POST", "/api/chat", json=body) as response,
        ):
            for line in response.iter_lines():
                op.chunk(json.loads(line))
        attributes = apm_capture.span("chat llama3.2").attributes
        assert 4 == attributes["gen_ai.usage.output_tokens"]
        assert "llama3.2" == attributes["gen_ai.response.model"]
        assert 1 == apm_capture.histogram_count(FIRST_CHUNK)
