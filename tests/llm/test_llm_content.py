"""Prompt and completion capture: off by default, semconv messages when switched on."""

import json

import pytest

import autobot_apm as apm
from autobot_apm._sdk.parsers.llm import parse_content_capture
from autobot_apm.llm import LlmOperation, track_llm
from autobot_apm.testing import Capture, capture_telemetry

INPUT, OUTPUT = "gen_ai.input.messages", "gen_ai.output.messages"
DETAILS = "gen_ai.client.inference.operation.details"
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}]
ANSWER = {
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}
    ]
}


@track_llm(provider="openai", model="m")
def ask():
    apm.current_operation(LlmOperation).prompt(PROMPT)
    return ANSWER


def messages(span, key):
    return json.loads(span.attributes[key])


class TestSwitch:
    def test_off_by_default(self, apm_capture: Capture):
        """Without opt-in, neither prompt nor completion is recorded anywhere."""
        ask()
        span = apm_capture.span("chat m")
        assert INPUT not in span.attributes
        assert OUTPUT not in span.attributes
        assert () == tuple(span.events)

    @pytest.mark.parametrize("value", [True, "true", "SPAN_ONLY", "span_only", " Span_Only "])
    def test_span_only_spellings(self, value):
        """The legacy true and SPAN_ONLY (any case) put the messages on the span."""
        with capture_telemetry(capture_message_content=value) as capture:
            ask()
        span = capture.span("chat m")
        assert [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Capital?"}]},
        ] == messages(span, INPUT)
        assert [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Paris."}],
                "finish_reason": "stop",
            }
        ] == messages(span, OUTPUT)
        assert () == tuple(span.events)

    def test_event_only(self):
        """EVENT_ONLY: one details event carries the messages; the span has none."""
        with capture_telemetry(capture_message_content="EVENT_ONLY") as capture:
            ask()
        span = capture.span("chat m")
        (event,) = span.events
        assert DETAILS == event.name
        assert {INPUT, OUTPUT} == set(event.attributes)
        assert INPUT not in span.attributes

    def test_span_and_event(self):
        """SPAN_AND_EVENT: both places."""
        with capture_telemetry(capture_message_content="span_and_event") as capture:
            ask()
        span = capture.span("chat m")
        assert [DETAILS] == [event.name for event in span.events]
        assert OUTPUT in span.attributes

    @pytest.mark.parametrize("value", [False, "false", "NO_CONTENT", "", None])
    def test_off_spellings(self, value):
        """false, NO_CONTENT and empty mean no capture."""
        assert "no_content" == parse_content_capture("capture_message_content", value)

    @pytest.mark.parametrize("value", ["yes please", 3, ["span_only"]])
    def test_unknown_values_are_configuration_errors(self, value):
        """Anything else is refused, naming the setting."""
        with pytest.raises(apm.ConfigurationError, match="capture_message_content"):
            parse_content_capture("capture_message_content", value)

    def test_malformed_setting_fails_at_configuration(self):
        """A malformed capture value is a ConfigurationError when settings are resolved."""
        with (
            pytest.raises(apm.ConfigurationError, match="capture_message_content"),
            capture_telemetry(capture_message_content="loud"),
        ):
            pass


class TestMessages:
    def test_texts_are_truncated(self):
        """Each text is cut to content_max_length characters, the last being …."""
        settings = {"capture_message_content": True, "content_max_length": 8}
        with capture_telemetry(**settings) as capture, track_llm(provider="o", model="m") as op:
            op.prompt("a question that is long")
            op.completion("an answer that is long")
        span = capture.span("chat m")
        assert "a quest…" == messages(span, INPUT)[0]["parts"][0]["content"]
        assert "an answ…" == messages(span, OUTPUT)[0]["parts"][0]["content"]

    def test_streamed_completion_is_assembled(self):
        """The completion of a stream is the concatenated text of its chunks."""

        @track_llm(provider="ollama", model="m")
        def stream():
            yield {"message": {"role": "assistant", "content": "Par"}, "done": False}
            yield {"message": {"role": "assistant", "content": "is."}, "done": False}
            yield {"message": {"content": ""}, "done": True, "done_reason": "stop"}

        with capture_telemetry(capture_message_content=True) as capture:
            list(stream())
        (message,) = messages(capture.span("chat m"), OUTPUT)
        assert [{"type": "text", "content": "Paris."}] == message["parts"]
        assert "stop" == message["finish_reason"]

    def test_streamed_text_respects_the_limit(self):
        """A long stream keeps only content_max_length characters of its text."""

        @track_llm(provider="openai", model="m")
        def stream():
            for _ in range(1000):
                yield {"choices": [{"delta": {"content": "word "}}]}

        with capture_telemetry(capture_message_content=True, content_max_length=12) as capture:
            list(stream())
        (message,) = messages(capture.span("chat m"), OUTPUT)
        assert "word word w…" == message["parts"][0]["content"]

    def test_tool_calls_and_multipart_content(self):
        """Tool calls become tool_call parts; image parts are named by type only."""
        prompt = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": "data:..."},
                ],
            }
        ]
        answer = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                }
            ],
        }
        with (
            capture_telemetry(capture_message_content=True) as capture,
            track_llm(provider="openai", model="m") as op,
        ):
            op.prompt(prompt)
            op.completion([answer])
        span = capture.span("chat m")
        assert [{"type": "text", "content": "What is this?"}, {"type": "image_url"}] == messages(
            span, INPUT
        )[0]["parts"]
        assert [
            {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": '{"q": "x"}'}
        ] == messages(span, OUTPUT)[0]["parts"]

    def test_anthropic_answer_is_captured(self):
        """An Anthropic message result: its text blocks are the completion."""
        answer = {
            "type": "message",
            "role": "assistant",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "Bonjour"}],
        }

        @track_llm(provider="anthropic", model="m")
        def ask_claude():
            return answer

        with capture_telemetry(capture_message_content=True) as capture:
            ask_claude()
        (message,) = messages(capture.span("chat m"), OUTPUT)
        assert [{"type": "text", "content": "Bonjour"}] == message["parts"]
        assert "end_turn" == message["finish_reason"]
