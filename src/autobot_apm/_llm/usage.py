"""Read token usage, response model, id and finish reasons from what an LLM call returned.

Four families of shapes are understood, as SDK objects or as decoded JSON alike:

* OpenAI chat completions (``usage.prompt_tokens`` / ``completion_tokens``, ``choices``),
  and its Responses API (``usage.input_tokens`` / ``output_tokens``); stream chunks with
  ``choices[].delta`` and the ``include_usage`` final chunk;
* Anthropic messages (``usage.input_tokens``, ``stop_reason``) and their stream events
  (``message_start``, ``message_delta``);
* Ollama (``prompt_eval_count``, ``eval_count``, ``done_reason`` and durations in
  nanoseconds), also the ``done: true`` last line of a stream;
* Gemini's ``usage_metadata`` token counts.

Anything else is ignored. Every value is type-checked before it is kept, so a mock, a
proxy or an object whose properties raise costs nothing but the look-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._tracking.attributes import metric_number

MAX_CHOICES = 16  # finish reasons kept from one response (n > 16 is rare and unreadable)

# Usage detail fields (as the providers name them) -> semconv attribute.
_USAGE_DETAILS = {
    "cache_read_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
}
_NESTED_DETAILS = (
    ("prompt_tokens_details", "cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("input_tokens_details", "cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("completion_tokens_details", "reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
    ("output_tokens_details", "reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
)
# Ollama reports its own timings in nanoseconds; kept in seconds under our own names.
_OLLAMA_DURATIONS = {
    "total_duration": "autobot_apm.gen_ai.server.total_duration",
    "load_duration": "autobot_apm.gen_ai.server.load_duration",
    "prompt_eval_duration": "autobot_apm.gen_ai.server.prompt_eval_duration",
    "eval_duration": "autobot_apm.gen_ai.server.eval_duration",
}


@dataclass(slots=True)
class LlmFacts:
    """What is known about one call's response; None where nothing was found."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    usage_details: dict[str, int] = field(default_factory=dict)
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    server_durations: dict[str, float] = field(default_factory=dict)

    def over(self, found: LlmFacts) -> LlmFacts:
        """These facts (reported by the user), completed field by field by ``found``."""
        return LlmFacts(
            input_tokens=_first(self.input_tokens, found.input_tokens),
            output_tokens=_first(self.output_tokens, found.output_tokens),
            usage_details={**found.usage_details, **self.usage_details},
            response_model=self.response_model or found.response_model,
            response_id=self.response_id or found.response_id,
            finish_reasons=self.finish_reasons or found.finish_reasons,
            server_durations=found.server_durations,
        )


def _first(mine: int | None, theirs: int | None) -> int | None:
    return theirs if mine is None else mine


class Fields(Protocol):
    """Read access to a response, whatever it is: ``fields.get(name)`` is None if absent."""

    def get(self, name: str, /) -> Any: ...


class _Attributes:
    """``get`` over an object's attributes (SDK models), never raising."""

    __slots__ = ("_obj",)

    def __init__(self, obj: object) -> None:
        self._obj = obj

    def get(self, name: str) -> Any:
        try:
            return getattr(self._obj, name, None)
        except Exception:
            return None


class _SafeMapping(_Attributes):
    """``get`` over a mapping other than a dict, never raising."""

    __slots__ = ()

    def get(self, name: str) -> Any:
        try:
            return self._obj.get(name)  # type: ignore[attr-defined]
        except Exception:
            return None


def fields(obj: object) -> Fields:
    """A dict as it is (its ``get`` is the fast path: chunks are decoded JSON), else a
    reader of the object's items or attributes."""
    if type(obj) is dict:
        return obj
    return _SafeMapping(obj) if isinstance(obj, Mapping) else _Attributes(obj)


def get(obj: object, name: str) -> Any:
    """``obj[name]`` for a mapping, else ``obj.name``; None when absent or failing."""
    return None if obj is None else fields(obj).get(name)


def token_count(value: object) -> int | None:
    """A token count as a plain int, or None for anything but a non-negative 64-bit int."""
    count = metric_number(value)
    return count if type(count) is int else None


def items(value: object, limit: int = MAX_CHOICES) -> list[Any]:
    """The first items of a list or tuple (the only sequences JSON and SDKs hand out)."""
    if type(value) is list or type(value) is tuple:
        return list(value[:limit])
    return []


def read(obj: object, facts: LlmFacts) -> None:
    """Update ``facts`` from a response or one stream chunk; unknown shapes do nothing.

    This runs for every chunk of a stream: each shape costs a few dictionary look-ups.
    """
    if obj is None or type(obj) is str or type(obj) is bytes:
        return
    data = fields(obj)
    event = data.get("type")
    if type(event) is str and _read_event(event, data, facts):
        return
    if facts.response_model is None or facts.response_id is None:
        _read_identity(data, facts)
    usage = data.get("usage")
    if usage is not None:
        _read_usage(fields(usage), facts)
    choices = data.get("choices")
    if choices:
        for choice in items(choices):
            _add_reason(get(choice, "finish_reason"), facts)
    _add_reason(data.get("stop_reason"), facts)  # Anthropic
    if data.get("done") is True:  # Ollama's last line, or its whole answer
        _read_ollama(data, facts)
    elif usage is None:
        _read_gemini_usage(data.get("usage_metadata"), facts)


def _read_event(event: str, data: Fields, facts: LlmFacts) -> bool:
    """Streaming events that wrap the data (Anthropic, OpenAI Responses). True: handled."""
    if event == "message_start":  # Anthropic: the message header, with input tokens
        read(data.get("message"), facts)
        return True
    if event == "message_delta":  # Anthropic: cumulative output tokens and stop reason
        usage = data.get("usage")
        if usage is not None:
            _read_usage(fields(usage), facts)
        _add_reason(get(data.get("delta"), "stop_reason"), facts)
        return True
    if event in {"response.completed", "response.incomplete", "response.failed"}:
        read(data.get("response"), facts)
        return True
    # Other events (text deltas) carry no usage; a complete message has type "message".
    return event != "message"


def _read_identity(data: Fields, facts: LlmFacts) -> None:
    model, identifier = data.get("model"), data.get("id")
    if facts.response_model is None and type(model) is str and model:
        facts.response_model = model
    if facts.response_id is None and type(identifier) is str and identifier:
        facts.response_id = identifier


def _read_usage(usage: Fields, facts: LlmFacts) -> None:
    input_tokens = token_count(usage.get("prompt_tokens"))
    if input_tokens is None:
        input_tokens = token_count(usage.get("input_tokens"))
    output_tokens = token_count(usage.get("completion_tokens"))
    if output_tokens is None:
        output_tokens = token_count(usage.get("output_tokens"))
    _set_tokens(facts, input_tokens, output_tokens)
    for name, attribute in _USAGE_DETAILS.items():
        _set_detail(facts, attribute, token_count(usage.get(name)))
    for container, name, attribute in _NESTED_DETAILS:
        details = usage.get(container)
        if details is not None:
            _set_detail(facts, attribute, token_count(get(details, name)))


def _read_gemini_usage(usage: object, facts: LlmFacts) -> None:
    if usage is not None:
        data = fields(usage)
        _set_tokens(facts, token_count(data.get("prompt_token_count")),
                    token_count(data.get("candidates_token_count")))  # fmt: skip


def _read_ollama(data: Fields, facts: LlmFacts) -> None:
    _set_tokens(facts, token_count(data.get("prompt_eval_count")),
                token_count(data.get("eval_count")))  # fmt: skip
    _add_reason(data.get("done_reason"), facts)
    for name, attribute in _OLLAMA_DURATIONS.items():
        nanoseconds = token_count(data.get(name))
        if nanoseconds is not None:
            facts.server_durations[attribute] = nanoseconds / 1e9


def _set_tokens(facts: LlmFacts, input_tokens: int | None, output_tokens: int | None) -> None:
    # A later chunk restates the totals (OpenAI's usage chunk, Anthropic's message_delta).
    if input_tokens is not None:
        facts.input_tokens = input_tokens
    if output_tokens is not None:
        facts.output_tokens = output_tokens


def _set_detail(facts: LlmFacts, attribute: str, count: int | None) -> None:
    if count is not None:
        facts.usage_details[attribute] = count


def _add_reason(reason: object, facts: LlmFacts) -> None:
    # A stream states each choice's reason once, in the chunk that ends that choice.
    # type() first: a hostile object's __bool__ is never called.
    if type(reason) is str and reason and len(facts.finish_reasons) < MAX_CHOICES:
        facts.finish_reasons.append(reason)
