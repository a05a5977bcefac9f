"""track_llm: the four forms, span names and attributes, metrics, errors, retrieval."""

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import autobot_apm as apm
from autobot_apm.llm import LlmOperation, track_llm
from autobot_apm.testing import Capture

DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"

OPENAI_ANSWER = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}


class TestForms:
    def test_bare_decorator(self, apm_capture: Capture):
        """@track_llm without arguments: a `chat` span with an unknown (_OTHER) provider."""

        @track_llm
        def ask():
            return OPENAI_ANSWER

        assert OPENAI_ANSWER is ask()
        span = apm_capture.span("chat")
        assert "_OTHER" == span.attributes["gen_ai.provider.name"]
        assert 12 == span.attributes["gen_ai.usage.input_tokens"]

    def test_called_decorator(self, apm_capture: Capture):
        """@track_llm(...) makes one CLIENT span `{operation} {model}` per call."""

        @track_llm(provider="openai", model="gpt-4o-mini")
        def ask(question):
            return OPENAI_ANSWER

        ask("a")
        ask("b")
        spans = apm_capture.spans_named("chat gpt-4o-mini")
        assert 2 == len(spans)
        assert SpanKind.CLIENT == spans[0].kind

    def test_with_block(self, apm_capture: Capture):
        """`with` yields an LlmOperation whose reports land on the span."""
        with track_llm(provider="ollama", model="llama3.2") as op:
            assert isinstance(op, LlmOperation)
            op.usage(input_tokens=5, output_tokens=7)
        span = apm_capture.span("chat llama3.2")
        assert (5, 7) == (
            span.attributes["gen_ai.usage.input_tokens"],
            span.attributes["gen_ai.usage.output_tokens"],
        )

    async def test_async_with_block(self, apm_capture: Capture):
        """`async with` works like `with`."""
        async with track_llm(provider="openai", model="gpt-4o") as op:
            await asyncio.sleep(0)
            op.response(model="gpt-4o-2024-08-06", id="r1", finish_reasons=["length"])
        span = apm_capture.span("chat gpt-4o")
        assert "gpt-4o-2024-08-06" == span.attributes["gen_ai.response.model"]
        assert ("length",) == span.attributes["gen_ai.response.finish_reasons"]

    async def test_coroutine(self, apm_capture: Capture, apm_clock):
        """A decorated coroutine is timed while awaited and its result read."""

        @track_llm(provider="openai", model="gpt-4o-mini")
        async def ask():
            await asyncio.sleep(0)
            apm_clock.advance(0.25)
            return OPENAI_ANSWER

        pending = ask()
        apm_clock.advance(1.0)  # between creating the coroutine and awaiting it
        await pending
        span = apm_capture.span("chat gpt-4o-mini")
        assert 250_000_000 == span.end_time - span.start_time
        assert [0.25] == [p.sum for p in apm_capture.metric_points(DURATION)]
        assert "chatcmpl-1" == span.attributes["gen_ai.response.id"]

    def test_operation_reachable_inside_decorated_function(self, apm_capture: Capture):
        """current_operation(LlmOperation) is the call's handle inside the function."""

        @track_llm(provider="vllm", model="qwen")
        def ask():
            apm.current_operation(LlmOperation).usage(input_tokens=1, output_tokens=2)
            return "text"

        ask()
        assert 2 == apm_capture.span("chat qwen").attributes["gen_ai.usage.output_tokens"]

    def test_provider_is_required_in_the_called_form(self):
        """track_llm() without provider= is a programming error, said at once."""
        with pytest.raises(TypeError, match="provider"):
            track_llm(model="gpt-4o")


class TestAttributes:
    def test_request_parameters(self, apm_capture: Capture):
        """Request parameters become gen_ai.request.* attributes, aliases included."""
        with track_llm(
            provider="openai",
            model="m",
            server_address="api.example.com",
            server_port=8443,
            max_completion_tokens=256,
            temperature=0.2,
            top_p=0.9,
            stop="\n",
            n=2,
            seed=7,
            **{"myapp.tier": "gold"},
        ):
            pass
        attributes = apm_capture.span("chat m").attributes
        assert {
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.stop_sequences": ("\n",),
            "gen_ai.request.choice.count": 2,
            "gen_ai.request.seed": 7,
            "server.address": "api.example.com",
            "server.port": 8443,
            "myapp.tier": "gold",
        }.items() <= dict(attributes).items()

    def test_choice_count_of_one_is_not_recorded(self, apm_capture: Capture):
        """gen_ai.request.choice.count is recorded only when it is not 1."""
        with track_llm(provider="openai", model="m", n=1):
            pass
        assert "gen_ai.request.choice.count" not in apm_capture.span("chat m").attributes

    def test_unknown_request_parameter_is_refused(self):
        """A misspelt parameter is a TypeError naming it, as for any keyword argument."""
        with pytest.raises(TypeError, match="temprature"):
            track_llm(provider="openai", temprature=0.1)

    def test_response_read_from_result(self, apm_capture: Capture):
        """Response model, id, finish reasons and usage come from an OpenAI-style result."""

        @track_llm(provider="openai", model="gpt-4o-mini")
        def ask():
            return OPENAI_ANSWER

        ask()
        attributes = apm_capture.span("chat gpt-4o-mini").attributes
        assert "gpt-4o-mini-2024-07-18" == attributes["gen_ai.response.model"]
        assert "chatcmpl-1" == attributes["gen_ai.response.id"]
        assert ("stop",) == attributes["gen_ai.response.finish_reasons"]
        assert (12, 3) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )

    def test_reported_usage_wins_over_the_result(self, apm_capture: Capture):
        """op.usage() overrides what the result says, field by field."""

        @track_llm(provider="openai", model="gpt-4o-mini")
        def ask():
            apm.current_operation(LlmOperation).usage(output_tokens=99, reasoning_output_tokens=4)
            return OPENAI_ANSWER

        ask()
        attributes = apm_capture.span("chat gpt-4o-mini").attributes
        assert 12 == attributes["gen_ai.usage.input_tokens"]
        assert 99 == attributes["gen_ai.usage.output_tokens"]
        assert 4 == attributes["autobot_apm.gen_ai.usage.reasoning.output_tokens"]

    def test_unknown_result_shape_records_no_usage(self, apm_capture: Capture):
        """A result of no known shape is returned untouched and adds no usage."""
        answer = object()

        @track_llm(provider="custom", model="m")
        def ask():
            return answer

        assert answer is ask()
        attributes = apm_capture.span("chat m").attributes
        assert "gen_ai.usage.input_tokens" not in attributes
        assert 0 == apm_capture.histogram_count(TOKENS)

    def test_response_reports_add_up(self, apm_capture: Capture):
        """Separate response() calls each add what they name, keeping the rest."""
        with track_llm(provider="openai", model="m") as op:
            op.response(model="m-2")
            op.response(id="r-7")
        attributes = apm_capture.span("chat m").attributes
        assert ("m-2", "r-7") == (
            attributes["gen_ai.response.model"],
            attributes["gen_ai.response.id"],
        )

    def test_reports_after_the_end_are_ignored(self, apm_capture: Capture):
        """A handle kept after its call ended accepts reports and records nothing."""
        with track_llm(provider="openai", model="m") as op:
            pass
        op.usage(input_tokens=3)
        op.chunk()
        assert "gen_ai.usage.input_tokens" not in apm_capture.span("chat m").attributes


class TestMetrics:
    def test_duration_and_token_usage(self, apm_capture: Capture):
        """One duration record per call, and one token record per token type."""

        @track_llm(provider="openai", model="gpt-4o-mini")
        def ask():
            return OPENAI_ANSWER

        ask()
        expected = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        }
        (point,) = apm_capture.metric_points(DURATION)
        assert expected == dict(point.attributes)
        assert 0.01 == point.explicit_bounds[0]
        (input_point,) = apm_capture.metric_points(TOKENS, {"gen_ai.token.type": "input"})
        assert 12 == input_point.sum
        (output_point,) = apm_capture.metric_points(TOKENS, {"gen_ai.token.type": "output"})
        assert 3 == output_point.sum

    def test_no_first_chunk_metric_without_a_stream(self, apm_capture: Capture):
        """Time to first chunk is a streaming metric: a plain call records none."""
        with track_llm(provider="openai", model="m") as op:
            op.usage(input_tokens=1, output_tokens=1)
        assert 0 == apm_capture.histogram_count(FIRST_CHUNK)
        attributes = apm_capture.span("chat m").attributes
        assert "autobot_apm.gen_ai.response.time_to_first_chunk" not in attributes


class TestErrors:
    def test_exception_passes_through_and_is_recorded(self, apm_capture: Capture):
        """The user's exception is the same object; error.type is on span and metric."""
        failure = TimeoutError("model too slow")

        @track_llm(provider="openai", model="m")
        def ask():
            raise failure

        with pytest.raises(TimeoutError) as raised:
            ask()
        assert failure is raised.value
        span = apm_capture.span("chat m")
        assert StatusCode.ERROR == span.status.status_code
        assert "TimeoutError" == span.attributes["error.type"]
        assert 1 == apm_capture.histogram_count(DURATION, {"error.type": "TimeoutError"})

    def test_unconfigured_calls_go_straight_through(self):
        """Without configure() nothing is recorded and the result is untouched."""
        stream = iter([1, 2])

        @track_llm(provider="openai", model="m")
        def ask():
            return stream

        assert stream is ask()
        with track_llm(provider="openai") as op:
            op.usage(input_tokens=1)
            op.chunk({"usage": {"prompt_tokens": 1}})


class TestRetrieval:
    def test_retrieval_span_is_named_by_its_data_source(self, apm_capture: Capture):
        """operation="retrieval": span `retrieval {data_source}` with gen_ai.data_source.id."""
        with track_llm(provider="chroma", operation="retrieval", data_source="docs") as op:
            op.retrieved(count=3, top_k=5, best_score=0.87)
        attributes = apm_capture.span("retrieval docs").attributes
        assert "docs" == attributes["gen_ai.data_source.id"]
        assert "retrieval" == attributes["gen_ai.operation.name"]
        assert 3 == attributes["autobot_apm.gen_ai.retrieval.result_count"]
        assert 5.0 == attributes["gen_ai.request.top_k"]
        assert 0.87 == attributes["autobot_apm.gen_ai.retrieval.best_score"]
        assert 1 == apm_capture.histogram_count(DURATION, {"gen_ai.operation.name": "retrieval"})

    def test_unusable_retrieval_values_are_dropped(self, apm_capture: Capture):
        """Negative counts, NaN scores and non-numbers are not recorded, never raised."""
        with track_llm(provider="qdrant", operation="retrieval") as op:
            op.retrieved(count=-1, top_k="many", best_score=float("nan"))  # type: ignore[arg-type]
        attributes = apm_capture.span("retrieval").attributes
        assert not any(key.startswith("autobot_apm.gen_ai.retrieval") for key in attributes)
        assert "gen_ai.request.top_k" not in attributes
