"""Usage, response model, id and finish reasons read from the shapes providers return."""

from types import SimpleNamespace
from unittest import mock

from pydantic import BaseModel

from autobot_apm._llm.usage import LlmFacts, read
from autobot_apm.llm import track_llm
from autobot_apm.testing import Capture


def facts_of(*objects: object) -> LlmFacts:
    facts = LlmFacts()
    for obj in objects:
        read(obj, facts)
    return facts


# Pydantic models shaped like the OpenAI SDK's objects (which are pydantic models).
class PromptDetails(BaseModel):
    cached_tokens: int


class CompletionDetails(BaseModel):
    reasoning_tokens: int


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


class Choice(BaseModel):
    index: int
    finish_reason: str | None


class ChatCompletion(BaseModel):
    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None


class TestOpenAI:
    def test_sdk_object_with_details(self):
        """SDK objects: token counts, cached and reasoning tokens, id, model, reasons."""
        usage = Usage(
            prompt_tokens=100,
            completion_tokens=40,
            prompt_tokens_details=PromptDetails(cached_tokens=64),
            completion_tokens_details=CompletionDetails(reasoning_tokens=10),
        )
        answer = ChatCompletion(
            id="chatcmpl-9",
            model="o3-mini",
            usage=usage,
            choices=[
                Choice(index=0, finish_reason="stop"),
                Choice(index=1, finish_reason="length"),
            ],
        )
        facts = facts_of(answer)
        assert (100, 40) == (facts.input_tokens, facts.output_tokens)
        assert {
            "gen_ai.usage.cache_read.input_tokens": 64,
            "gen_ai.usage.reasoning.output_tokens": 10,
        } == facts.usage_details
        assert ("chatcmpl-9", "o3-mini") == (facts.response_id, facts.response_model)
        assert ["stop", "length"] == facts.finish_reasons

    def test_responses_api(self):
        """The Responses API: usage.input_tokens / output_tokens and cached tokens."""
        answer = {
            "id": "resp_1",
            "object": "response",
            "model": "gpt-4.1",
            "usage": {
                "input_tokens": 30,
                "output_tokens": 8,
                "input_tokens_details": {"cached_tokens": 16},
            },
        }
        facts = facts_of(answer)
        assert (30, 8) == (facts.input_tokens, facts.output_tokens)
        assert 16 == facts.usage_details["gen_ai.usage.cache_read.input_tokens"]

    def test_stream_with_final_usage_chunk(self):
        """Chunks: the finish reason from its chunk, usage from the include_usage chunk."""
        chunks = [
            {
                "id": "c1",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
            },
            {
                "id": "c1",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            },
            {
                "id": "c1",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 2},
            },
        ]
        facts = facts_of(*chunks)
        assert (9, 2) == (facts.input_tokens, facts.output_tokens)
        assert ["stop"] == facts.finish_reasons
        assert "gpt-4o-mini-2024-07-18" == facts.response_model


class TestAnthropic:
    def test_message(self):
        """A message: input/output tokens, cache tokens, stop_reason."""
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "Hi"}],
            "usage": {
                "input_tokens": 20,
                "output_tokens": 5,
                "cache_read_input_tokens": 12,
                "cache_creation_input_tokens": 3,
            },
        }
        facts = facts_of(message)
        assert (20, 5) == (facts.input_tokens, facts.output_tokens)
        assert ["end_turn"] == facts.finish_reasons
        assert {
            "gen_ai.usage.cache_read.input_tokens": 12,
            "gen_ai.usage.cache_creation.input_tokens": 3,
        } == facts.usage_details

    def test_stream_events(self):
        """message_start gives input tokens; message_delta the final output and reason."""
        events = [
            {
                "type": "message_start",
                "message": {
                    "id": "msg_2",
                    "model": "claude-haiku-4-5",
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {"output_tokens": 15},
            },
            {"type": "message_stop"},
        ]
        facts = facts_of(*events)
        assert (25, 15) == (facts.input_tokens, facts.output_tokens)
        assert ("msg_2", "claude-haiku-4-5") == (facts.response_id, facts.response_model)
        assert ["max_tokens"] == facts.finish_reasons


class TestOllama:
    def test_final_line_with_durations(self):
        """done: true carries the counts, the reason and durations (ns -> s)."""
        lines = [
            {"model": "llama3.2", "message": {"content": "Hi"}, "done": False},
            {
                "model": "llama3.2",
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": 26,
                "eval_count": 298,
                "total_duration": 5_000_000_000,
                "eval_duration": 4_500_000_000,
            },
        ]
        facts = facts_of(*lines)
        assert (26, 298) == (facts.input_tokens, facts.output_tokens)
        assert ["stop"] == facts.finish_reasons
        assert {
            "autobot_apm.gen_ai.server.total_duration": 5.0,
            "autobot_apm.gen_ai.server.eval_duration": 4.5,
        } == facts.server_durations

    def test_counts_before_done_are_not_read(self):
        """Only the done line is read for Ollama counts (earlier lines carry none)."""
        assert None is facts_of({"model": "m", "eval_count": 3, "done": False}).output_tokens


class TestOtherShapes:
    def test_gemini_usage_metadata(self):
        """Gemini: usage_metadata.prompt_token_count / candidates_token_count."""
        answer = SimpleNamespace(
            usage_metadata=SimpleNamespace(prompt_token_count=11, candidates_token_count=4)
        )
        facts = facts_of(answer)
        assert (11, 4) == (facts.input_tokens, facts.output_tokens)

    def test_unknown_shapes_are_ignored(self):
        """Strings, lists, numbers, mocks and None leave nothing behind."""
        facts = facts_of("text", b"bytes", [1, 2], 42, None, mock.Mock(), mock.MagicMock())
        assert LlmFacts() == facts

    def test_invalid_values_are_ignored(self):
        """Booleans, negative or textual counts and non-string models are not kept."""
        facts = facts_of(
            {
                "model": 7,
                "id": ["x"],
                "usage": {"prompt_tokens": True, "completion_tokens": -3, "input_tokens": "12"},
            }
        )
        assert LlmFacts() == facts

    def test_hostile_object_is_ignored(self):
        """An object whose properties raise is read as having nothing."""

        class Hostile:
            @property
            def usage(self):
                raise RuntimeError("no")

            def __getattr__(self, name):
                raise ValueError(name)

        assert LlmFacts() == facts_of(Hostile())


class TestThroughTheTracker:
    def test_usage_from_a_pydantic_result(self, apm_capture: Capture):
        """A decorated function returning an SDK object: usage on the span, not a stream."""
        answer = ChatCompletion(
            id="c", model="m-1", choices=[], usage=Usage(prompt_tokens=3, completion_tokens=4)
        )

        @track_llm(provider="openai", model="m")
        def ask():
            return answer

        assert answer is ask()
        attributes = apm_capture.span("chat m").attributes
        assert (3, 4) == (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
