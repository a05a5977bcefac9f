"""Streaming: the span lives as long as the stream, whichever way the stream ends."""

import asyncio
import io

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture

FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
SPAN = "chat m"


def chunk(text, finish=None):
    return {
        "id": "c1",
        "model": "m-1",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "c1",
    "model": "m-1",
    "choices": [],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3},
}
CHUNKS = [chunk("Hello"), chunk(" world"), chunk("!", "stop"), USAGE_CHUNK]


def all_chunks():
    yield from CHUNKS


def clocked_chunks(clock):
    """CHUNKS, the first after 0.25 s and the rest 0.75 s later (on the fake clock)."""
    clock.advance(0.25)
    yield CHUNKS[0]
    clock.advance(0.75)
    yield from CHUNKS[1:]


class SdkStream:
    """Shaped like openai.Stream: iterator, context manager, close(), .response."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self.response = "the http response"
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self.closed = True


class AsyncSdkStream:
    """Shaped like openai.AsyncStream: async iterator, async close(), async with."""

    def __init__(self, chunks, delay=0.0):
        self._chunks = iter(chunks)
        self._delay = delay
        self.closed = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        await asyncio.sleep(self._delay)
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.close()

    async def close(self):
        self.closed = True


class TestDecoratedGenerators:
    def test_span_covers_the_whole_stream(self, apm_capture: Capture, apm_clock):
        """Ends at exhaustion with first-chunk time, chunk count and final-chunk usage."""
        tracked = track_llm(provider="openai", model="m")(clocked_chunks)
        assert CHUNKS == list(tracked(apm_clock))
        span = apm_capture.span(SPAN)
        attributes = span.attributes
        assert 0.25 == attributes["autobot_apm.gen_ai.response.time_to_first_chunk"]
        assert 1_000_000_000 == span.end_time - span.start_time
        assert 4 == attributes["autobot_apm.gen_ai.response.chunks"]
        assert (7, 3) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
        assert ("stop",) == attributes["gen_ai.response.finish_reasons"]
        assert attributes["autobot_apm.gen_ai.request.stream"] is True
        # 3 output tokens over the 0.75 s after the first chunk.
        assert 4.0 == attributes["autobot_apm.gen_ai.output_tokens_per_second"]
        assert 1 == apm_capture.histogram_count(FIRST_CHUNK, {"gen_ai.response.model": "m-1"})

    def test_consumer_breaking_out_ends_the_span(self, apm_capture: Capture):
        """Breaking out of the loop ends the span, without an error."""
        tracked = track_llm(provider="openai", model="m")(all_chunks)
        for _ in tracked():
            break
        span = apm_capture.span(SPAN)
        assert StatusCode.UNSET == span.status.status_code
        assert 1 == span.attributes["autobot_apm.gen_ai.response.chunks"]

    def test_failure_mid_stream(self, apm_capture: Capture):
        """An exception after some chunks ends the span as failed; the same object passes."""
        failure = ConnectionResetError("peer gone")

        @track_llm(provider="openai", model="m")
        def broken():
            yield chunk("Hel")
            raise failure

        with pytest.raises(ConnectionResetError) as raised:
            list(broken())
        assert failure is raised.value
        span = apm_capture.span(SPAN)
        assert "ConnectionResetError" == span.attributes["error.type"]
        assert 1 == apm_capture.histogram_count(FIRST_CHUNK, {"error.type": "ConnectionResetError"})

    async def test_async_generator(self, apm_capture: Capture):
        """A decorated async generator is measured the same way."""

        @track_llm(provider="openai", model="m")
        async def stream():
            for item in CHUNKS:
                await asyncio.sleep(0)
                yield item

        assert CHUNKS == [item async for item in stream()]
        assert 3 == apm_capture.span(SPAN).attributes["gen_ai.usage.output_tokens"]

    async def test_cancelled_task_is_recorded_as_cancelled(self, apm_capture: Capture):
        """A task cancelled while waiting for a chunk: error.type=cancelled, status unset."""

        @track_llm(provider="openai", model="m")
        async def stream():
            yield chunk("a")
            await asyncio.sleep(10)
            yield chunk("b")

        first = asyncio.Event()

        async def consume():
            async for _ in stream():
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        span = apm_capture.span(SPAN)
        assert "cancelled" == span.attributes["error.type"]
        assert StatusCode.UNSET == span.status.status_code


class TestReturnedStreams:
    def test_span_ends_when_the_returned_stream_is_exhausted(self, apm_capture: Capture):
        """A function returning a stream: the span is still open until the last chunk."""

        @track_llm(provider="openai", model="m")
        def ask():
            return SdkStream(CHUNKS)

        stream = ask()
        assert [] == apm_capture.spans
        assert "the http response" == stream.response  # attributes reach the stream
        assert CHUNKS == list(stream)
        assert 3 == apm_capture.span(SPAN).attributes["gen_ai.usage.output_tokens"]

    def test_with_block_closes_stream_and_span(self, apm_capture: Capture):
        """`with ask() as stream:` yields the proxy, closes the stream and ends the span."""

        @track_llm(provider="openai", model="m")
        def ask():
            return SdkStream(CHUNKS)

        with ask() as stream:
            next(stream)
        assert stream.closed
        assert 1 == apm_capture.span(SPAN).attributes["autobot_apm.gen_ai.response.chunks"]

    def test_close_ends_the_span(self, apm_capture: Capture):
        """close() reaches the stream and ends the span."""

        @track_llm(provider="openai", model="m")
        def ask():
            return SdkStream(CHUNKS)

        stream = ask()
        next(stream)
        stream.close()
        assert stream.closed
        assert 1 == len(apm_capture.spans_named(SPAN))

    def test_dropped_stream_ends_the_span(self, apm_capture: Capture):
        """A consumer that breaks out and drops the stream still ends the span."""

        @track_llm(provider="openai", model="m")
        def ask():
            return iter(CHUNKS)

        for _ in ask():
            break
        assert 1 == len(apm_capture.spans_named(SPAN))

    def test_returned_generator_runs_inside_the_span(self, apm_capture: Capture):
        """Spans the returned generator makes while producing chunks are children."""
        tracer = apm_capture.tracer_provider.get_tracer("test")

        def produce():
            with tracer.start_as_current_span("decode"):
                yield chunk("a")

        @track_llm(provider="openai", model="m")
        def ask():
            return produce()

        list(ask())
        decode, llm = apm_capture.span("decode"), apm_capture.span(SPAN)
        assert llm.context.span_id == decode.parent.span_id
        assert trace.INVALID_SPAN == trace.get_current_span()

    async def test_returned_async_stream(self, apm_capture: Capture):
        """A coroutine returning an async stream: ends with the stream; `async with` works."""

        @track_llm(provider="openai", model="m")
        async def ask():
            return AsyncSdkStream(CHUNKS)

        async with await ask() as stream:
            collected = [item async for item in stream]
        assert CHUNKS == collected
        assert stream.closed
        assert 7 == apm_capture.span(SPAN).attributes["gen_ai.usage.input_tokens"]

    async def test_async_close_ends_the_span(self, apm_capture: Capture):
        """`await stream.close()` (the SDK's async close) reaches it and ends the span."""

        @track_llm(provider="openai", model="m")
        async def ask():
            return AsyncSdkStream(CHUNKS)

        stream = await ask()
        await stream.__anext__()
        await stream.close()
        assert stream.closed
        assert 1 == len(apm_capture.spans_named(SPAN))

    async def test_aclose_of_a_returned_async_generator(self, apm_capture: Capture):
        """aclose() closes a returned async generator and ends the span."""
        closed = []

        async def produce():
            try:
                for item in CHUNKS:
                    yield item
            finally:
                closed.append(True)

        @track_llm(provider="openai", model="m")
        async def ask():
            return produce()

        stream = await ask()
        await stream.__anext__()
        await stream.aclose()
        assert [True] == closed
        assert 1 == len(apm_capture.spans_named(SPAN))

    async def test_cancellation_while_waiting_on_a_returned_stream(self, apm_capture: Capture):
        """Cancelling the consuming task records the call as cancelled."""

        @track_llm(provider="openai", model="m")
        async def ask():
            return AsyncSdkStream(CHUNKS, delay=0.5)

        stream = await ask()
        task = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0)  # the task starts, and waits for its chunk
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert "cancelled" == apm_capture.span(SPAN).attributes["error.type"]


class Answer(BaseModel):
    text: str


class TestNotStreams:
    @pytest.mark.parametrize(
        "answer",
        [
            "text",
            b"bytes",
            {"choices": []},
            ["a", "b"],
            ("a",),
            Answer(text="hi"),
            io.BytesIO(b"file"),
        ],
        ids=["str", "bytes", "dict", "list", "tuple", "pydantic", "file"],
    )
    def test_iterable_answers_are_returned_as_they_are(self, apm_capture: Capture, answer):
        """Strings, bytes, JSON, models and files are answers: returned as is, span ended."""

        @track_llm(provider="openai", model="m")
        def ask():
            return answer

        assert answer is ask()
        assert 1 == len(apm_capture.spans_named(SPAN))
        assert 0 == apm_capture.histogram_count(FIRST_CHUNK)


class TestChunkReports:
    def test_with_block_and_op_chunk(self, apm_capture: Capture, apm_clock):
        """op.chunk() in a `with` block: the first call times the first chunk."""
        with track_llm(provider="ollama", model="m") as op:
            apm_clock.advance(0.25)
            op.chunk()
            apm_clock.advance(0.5)
            op.chunk({"done": True, "prompt_eval_count": 4, "eval_count": 2})
        span = apm_capture.span(SPAN)
        assert 750_000_000 == span.end_time - span.start_time
        attributes = span.attributes
        assert 0.25 == attributes["autobot_apm.gen_ai.response.time_to_first_chunk"]
        assert [0.25] == [p.sum for p in apm_capture.metric_points(FIRST_CHUNK)]
        assert (4, 2) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
        assert 1 == apm_capture.histogram_count(FIRST_CHUNK)
