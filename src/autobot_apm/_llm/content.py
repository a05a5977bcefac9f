"""Prompts and completions as the GenAI semconv message attributes (opt-in only).

Messages are recorded as JSON strings in ``gen_ai.input.messages`` and
``gen_ai.output.messages``, in the semconv shape
``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]``. Each text is cut
to ``content_max_length`` characters; at most 128 messages are kept.

The switch is ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (or the
``capture_message_content`` setting): ``NO_CONTENT`` (the default), ``SPAN_ONLY``,
``EVENT_ONLY``, ``SPAN_AND_EVENT``, case-insensitive; the legacy ``true`` means
``SPAN_ONLY`` (the deprecated per-message events are never emitted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from .._tracking.attributes import safe_str, truncate
from .usage import fields, get, items

MAX_MESSAGES = 128
DETAILS_EVENT = "gen_ai.client.inference.operation.details"

# Where each mode (CAPTURE_MODES, as parsed) puts the messages: (on the span, as an event).
_MODES: dict[str, tuple[bool, bool]] = {
    "no_content": (False, False),
    "span_only": (True, False),
    "event_only": (False, True),
    "span_and_event": (True, True),
}


@dataclass(frozen=True, slots=True)
class ContentCapture:
    """Where captured messages go, and how much of each text is kept."""

    on_span: bool = False
    as_event: bool = False
    max_length: int = 4096

    @classmethod
    def from_mode(cls, mode: str, max_length: int) -> ContentCapture:
        on_span, as_event = _MODES[mode]
        return cls(on_span, as_event, max_length)

    @property
    def enabled(self) -> bool:
        return self.on_span or self.as_event


def input_messages(messages: object, max_length: int) -> str:
    """``gen_ai.input.messages`` for a prompt: a string or a list of chat messages."""
    return _dump(_messages(messages, "user", max_length))


def output_messages(messages: object, max_length: int, finish_reasons: list[str]) -> str:
    """``gen_ai.output.messages``: completion messages, each with its finish reason."""
    converted = _messages(messages, "assistant", max_length)
    for message, reason in zip(converted, finish_reasons, strict=False):
        message["finish_reason"] = reason
    return _dump(converted)


def response_messages(result: object) -> list[Any] | None:
    """The completion messages inside a whole (non-streamed) response, if recognisable."""
    if isinstance(result, str):
        return [result]
    choices = items(get(result, "choices"), MAX_MESSAGES)
    if choices:  # OpenAI: chat messages, or the text of a legacy completion
        return [get(choice, "message") or get(choice, "text") or "" for choice in choices]
    role, content = get(result, "role"), get(result, "content")
    if role == "assistant" and content is not None:  # Anthropic message
        return [{"role": "assistant", "content": content}]
    message = get(result, "message")  # Ollama /api/chat
    if message is not None:
        return [message]
    text = get(result, "response")  # Ollama /api/generate
    return [text] if isinstance(text, str) else None


def chunk_text(chunk: object) -> str | None:
    """The completion text a stream chunk carries, if any."""
    if chunk is None or isinstance(chunk, str):
        return _plain_text(chunk)
    data = fields(chunk)
    choices = items(data.get("choices"), 1)
    if choices:  # OpenAI: a chat delta, or a piece of a legacy completion
        choice = fields(choices[0])
        delta = choice.get("delta")
        text = get(delta, "content") if delta is not None else choice.get("text")
    elif (message := data.get("message")) is not None:  # Ollama chat
        text = get(message, "content")  # (Anthropic's message_start: a list, no text)
    else:  # Ollama generate, Anthropic content_block_delta
        text = data.get("response")
        text = text if isinstance(text, str) else get(data.get("delta"), "text")
    return _plain_text(text)


def _plain_text(text: object) -> str | None:
    """A str (a subclass copied, so its methods never run); anything else None."""
    return safe_str(text) if isinstance(text, str) else None


class TextBuffer:
    """Collects streamed completion text, keeping at most ``max_length`` characters."""

    __slots__ = ("_length", "_max_length", "_parts")

    def __init__(self, max_length: int) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._max_length = max_length

    def add(self, text: str) -> None:
        if self._length <= self._max_length:  # one character past the cut shows the "…"
            self._parts.append(text[: self._max_length + 1 - self._length])
            self._length += len(self._parts[-1])

    def text(self) -> str:
        return "".join(self._parts)


class CapturedContent:
    """The prompt and completion of one call, kept only while capture is on."""

    __slots__ = ("_capture", "_streamed", "completion", "prompt")

    def __init__(self, capture: ContentCapture) -> None:
        self._capture = capture
        self._streamed = TextBuffer(capture.max_length)
        self.prompt: str | None = None
        self.completion: object | None = None  # as the user or the response gave it

    def set_prompt(self, messages: object) -> None:
        self.prompt = input_messages(messages, self._capture.max_length)

    def add_chunk(self, chunk: object) -> None:
        text = chunk_text(chunk)
        if text:
            self._streamed.add(text)

    def add_response(self, result: object) -> None:
        if self.completion is None:
            self.completion = response_messages(result)

    def record(self, span: Span, finish_reasons: list[str]) -> None:
        """Put the messages on the span and/or in one details event."""
        attributes: dict[str, str] = {}
        if self.prompt is not None:
            attributes["gen_ai.input.messages"] = self.prompt
        streamed = self._streamed.text()
        completion = self.completion if self.completion is not None else streamed or None
        if completion is not None:
            attributes["gen_ai.output.messages"] = output_messages(
                completion, self._capture.max_length, finish_reasons
            )
        if self._capture.on_span:
            span.set_attributes(attributes)
        if self._capture.as_event and attributes:
            span.add_event(DETAILS_EVENT, attributes)


def _messages(messages: object, default_role: str, max_length: int) -> list[dict[str, Any]]:
    if isinstance(messages, str) or not isinstance(messages, list | tuple):
        messages = [messages]
    return [_message(message, default_role, max_length) for message in messages[:MAX_MESSAGES]]


def _message(message: object, default_role: str, max_length: int) -> dict[str, Any]:
    if isinstance(message, str):
        return {"role": default_role, "parts": [_text(message, max_length)]}
    role = get(message, "role")
    parts = _parts(get(message, "content"), max_length)
    for call in items(get(message, "tool_calls"), MAX_MESSAGES):
        parts.append(_tool_call(call, max_length))
    return {"role": role if isinstance(role, str) else default_role, "parts": parts}


def _parts(content: object, max_length: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content, max_length)]
    parts = items(content, MAX_MESSAGES)  # multi-part content: text, images, tool use...
    if not parts:
        return [_text(safe_str(content), max_length)]
    return [_part(part, max_length) for part in parts]


def _part(part: object, max_length: int) -> dict[str, Any]:
    if isinstance(part, str):
        return _text(part, max_length)
    kind, text = get(part, "type"), get(part, "text")
    if isinstance(text, str):
        return _text(text, max_length)
    # Images, audio and files are named by type only: their payloads are not text.
    return {"type": kind if isinstance(kind, str) else "unknown"}


def _tool_call(call: object, max_length: int) -> dict[str, Any]:
    function = get(call, "function")
    arguments = get(function, "arguments")
    return {
        "type": "tool_call",
        "id": safe_str(get(call, "id")),
        "name": safe_str(get(function, "name")),
        "arguments": truncate(safe_str(arguments), max_length),
    }


def _text(text: str, max_length: int) -> dict[str, Any]:
    return {"type": "text", "content": truncate(text, max_length)}


def _dump(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
