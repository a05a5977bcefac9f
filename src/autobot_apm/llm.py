"""track_llm: LLM calls as GenAI spans and metrics, streamed answers included.

Names follow the GenAI semantic conventions (in development): span
``{gen_ai.operation.name} {gen_ai.request.model}`` (``retrieval {gen_ai.data_source.id}``
for retrievals), kind CLIENT; metrics ``gen_ai.client.operation.duration``,
``gen_ai.client.token.usage`` and, for streams, ``gen_ai.client.operation.time_to_first_chunk``.

Where no convention exists the names are this library's own:

* ``autobot_apm.gen_ai.cost`` (span, US dollars) and the counter
  ``autobot_apm.gen_ai.client.cost`` (unit ``{USD}``: UCUM has no currency, so the currency
  is an annotation), from the ``llm_prices`` table given to configure();
* ``autobot_apm.gen_ai.output_tokens_per_second`` and ``autobot_apm.gen_ai.response.chunks``;
* ``autobot_apm.gen_ai.retrieval.result_count`` and ``.best_score`` (``op.retrieved()``);
* ``autobot_apm.gen_ai.server.{total,load,prompt_eval,eval}_duration`` (s), from Ollama.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard, TypeVar, overload

from opentelemetry.trace import SpanKind

from ._attributes import OTHER, low_cardinality_label
from ._core import Tracker
from ._llm_content import CapturedContent
from ._llm_settings import LlmSettings, llm_settings, parse_prices
from ._llm_stream import stream_kind, wrap_stream
from ._llm_usage import LlmFacts, read, token_count
from ._operation import Operation
from ._runtime import MetricSpec, Runtime

__all__ = ["LlmOperation", "LlmTracker", "parse_prices", "track_llm"]

F = TypeVar("F", bound=Callable[..., Any])

# Bucket boundaries of the semantic conventions (SEMCONV.md section 4); time to first
# chunk has none of its own: it uses the server-side time-to-first-token boundaries.
DURATION_BUCKETS = tuple(0.01 * 2**i for i in range(14))  # 0.01 s doubling to 81.92 s
TOKEN_BUCKETS = tuple(4**i for i in range(14))  # 1 token, x4, to 67,108,864
FIRST_CHUNK_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                       0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)  # fmt: skip

OPERATION_DURATION = MetricSpec(
    "gen_ai.client.operation.duration", "histogram", "s",
    "Duration of GenAI client operations.", DURATION_BUCKETS,
)  # fmt: skip
TOKEN_USAGE = MetricSpec(
    "gen_ai.client.token.usage", "histogram", "{token}",
    "Input and output tokens used per call.", TOKEN_BUCKETS,
)  # fmt: skip
TIME_TO_FIRST_CHUNK = MetricSpec(
    "gen_ai.client.operation.time_to_first_chunk", "histogram", "s",
    "Time from the start of a streamed call to its first chunk.", FIRST_CHUNK_BUCKETS,
)  # fmt: skip
COST = MetricSpec(
    "autobot_apm.gen_ai.client.cost", "counter", "{USD}",
    "Cost of LLM calls in US dollars, from the configured price table.",
)  # fmt: skip

# Request parameters as users (and the OpenAI/Ollama APIs) name them -> semconv attribute.
REQUEST_PARAMETERS = {
    **{name: f"gen_ai.request.{name}" for name in (
        "max_tokens", "temperature", "top_p", "top_k", "frequency_penalty",
        "presence_penalty", "seed", "stop_sequences", "stream", "encoding_formats")},
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "num_predict": "gen_ai.request.max_tokens",
    "stop": "gen_ai.request.stop_sequences",
    "n": "gen_ai.request.choice.count",
    "choice_count": "gen_ai.request.choice.count",
    "conversation_id": "gen_ai.conversation.id",
    "output_type": "gen_ai.output.type",
}  # fmt: skip
USAGE_DETAILS = {
    "cache_read_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_output_tokens": "gen_ai.usage.reasoning.output_tokens",
}


class LlmOperation(Operation):
    """A tracked LLM call: report usage, chunks, the response, messages, retrieval results.

    Usage and the response are read from the call's result (or its stream's chunks) when
    not reported; what is reported here always wins.
    """

    __slots__ = ("_chunks", "_content", "_first_chunk", "_found", "_reported", "_settings")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._found = LlmFacts()  # read from the result or the chunks
        self._reported = LlmFacts()  # said by the user
        self._first_chunk: float | None = None  # seconds from the start
        self._chunks = 0
        runtime: Runtime | None = self._runtime
        self._settings = llm_settings(runtime) if runtime is not None else LlmSettings()
        capture = self._settings.capture
        self._content = CapturedContent(capture) if capture.enabled else None

    def usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, **extra: int
    ) -> None:
        """Report token counts; ``extra`` may name ``cache_read_input_tokens``,
        ``cache_creation_input_tokens``, ``reasoning_output_tokens`` (others are kept as
        ``autobot_apm.gen_ai.usage.<name>``)."""
        if self._ended:
            return
        reported = self._reported
        if token_count(input_tokens) is not None:
            reported.input_tokens = input_tokens
        if token_count(output_tokens) is not None:
            reported.output_tokens = output_tokens
        for name, count in extra.items():
            if token_count(count) is not None:
                key = USAGE_DETAILS.get(name, f"autobot_apm.gen_ai.usage.{name}")
                reported.usage_details[key] = count

    def chunk(self, chunk: object = None) -> None:
        """One chunk of a streamed answer arrived; the first one times the first chunk.

        A chunk object (OpenAI, Anthropic or Ollama shape) may also carry usage, the
        response model or a finish reason, which are then picked up.
        """
        if self._ended:
            return
        if self._first_chunk is None:
            self._first_chunk = self.elapsed
        self._chunks += 1
        if chunk is not None:
            read(chunk, self._found)
            if self._content is not None:
                self._content.add_chunk(chunk)

    def response(
        self,
        model: str | None = None,
        id: str | None = None,  # shadows the builtin, to match gen_ai.response.id
        finish_reasons: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        """Report the model that answered, the response id and the finish reasons."""
        if self._ended:
            return
        self._reported.response_model = model if isinstance(model, str) else None
        self._reported.response_id = id if isinstance(id, str) else None
        self._reported.finish_reasons = [str(reason) for reason in finish_reasons or ()]

    def prompt(self, messages: object) -> None:
        """The prompt (a string or chat messages); recorded only when capture is on."""
        if self._content is not None and not self._ended:
            self._content.set_prompt(messages)

    def completion(self, messages: object) -> None:
        """The answer (a string or messages); recorded only when capture is on."""
        if self._content is not None and not self._ended:
            self._content.completion = messages

    def retrieved(
        self, count: int | None = None, top_k: int | None = None, best_score: float | None = None
    ) -> None:
        """Report a retrieval: results returned, results asked for, the best score."""
        if self._ended:
            return
        attributes: dict[str, Any] = {}
        if token_count(count) is not None:
            attributes["autobot_apm.gen_ai.retrieval.result_count"] = count
        if _finite(top_k):
            attributes["gen_ai.request.top_k"] = float(top_k)
        if _finite(best_score):
            attributes["autobot_apm.gen_ai.retrieval.best_score"] = float(best_score)
        self.span.set_attributes(attributes)

    # --- engine hooks ---

    def _on_result(self, result: Any) -> Any:
        kind = stream_kind(result) if self._chunks == 0 else None
        if kind is not None:
            self._deferred = True  # the call ends with its stream
            return wrap_stream(result, self, kind)
        read(result, self._found)
        if self._content is not None:
            self._content.add_response(result)
        return result

    def _on_item(self, item: Any) -> None:
        self.chunk(item)

    def _on_end(self, duration: float) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        facts = self._reported.over(self._found)
        if facts.response_model:
            label = low_cardinality_label(facts.response_model)
            self._metric_attributes["gen_ai.response.model"] = label
        cost = self._cost(facts)
        self.span.set_attributes(self._end_attributes(facts, duration, cost))
        if self._content is not None:
            self._content.record(self.span, facts.finish_reasons)
        self._record_metrics(runtime, facts, duration, cost)

    def _end_attributes(self, facts: LlmFacts, duration: float, cost: float | None) -> Any:
        attributes: dict[str, Any] = {
            "gen_ai.response.model": facts.response_model,
            "gen_ai.response.id": facts.response_id,
            "gen_ai.response.finish_reasons": tuple(facts.finish_reasons) or None,
            "gen_ai.usage.input_tokens": facts.input_tokens,
            "gen_ai.usage.output_tokens": facts.output_tokens,
            **facts.usage_details,
            **facts.server_durations,
            "autobot_apm.gen_ai.output_tokens_per_second": self._output_rate(facts, duration),
            "autobot_apm.gen_ai.cost": cost,
        }
        if self._first_chunk is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = self._first_chunk
            attributes["autobot_apm.gen_ai.response.chunks"] = self._chunks
            attributes["gen_ai.request.stream"] = True  # whatever was declared, it streamed
        return {key: value for key, value in attributes.items() if value is not None}

    def _output_rate(self, facts: LlmFacts, duration: float) -> float | None:
        """Output tokens per second: after the first chunk for a stream (the decoding
        rate, as Ollama reports it), over the whole call otherwise."""
        if not facts.output_tokens:
            return None
        generating = duration
        if self._first_chunk is not None and self._chunks >= 2:
            generating = duration - self._first_chunk
        return facts.output_tokens / generating if generating > 0 else None

    def _cost(self, facts: LlmFacts) -> float | None:
        if facts.input_tokens is None and facts.output_tokens is None:
            return None
        requested = self._metric_attributes.get("gen_ai.request.model")
        price = self._settings.price(facts.response_model, str(requested) if requested else None)
        if price is None:
            return None
        input_price, output_price = price
        return ((facts.input_tokens or 0) * input_price
                + (facts.output_tokens or 0) * output_price) / 1e6  # fmt: skip

    def _record_metrics(
        self, runtime: Runtime, facts: LlmFacts, duration: float, cost: float | None
    ) -> None:
        attributes = self._metric_attributes
        runtime.histogram(OPERATION_DURATION).record(duration, attributes)
        for token_type, count in (("input", facts.input_tokens), ("output", facts.output_tokens)):
            if count is not None:
                typed = {**attributes, "gen_ai.token.type": token_type}
                runtime.histogram(TOKEN_USAGE).record(count, typed)
        if self._first_chunk is not None:
            runtime.histogram(TIME_TO_FIRST_CHUNK).record(self._first_chunk, attributes)
        if cost is not None:
            runtime.counter(COST).add(cost, attributes)


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class LlmTracker(Tracker[LlmOperation]):
    """What ``track_llm(...)`` returns; request attributes are computed once, here."""

    operation_class = LlmOperation

    def __init__(
        self,
        *,
        provider: str,
        model: str | None,
        operation: str,
        server_address: str | None,
        server_port: int | None,
        data_source: str | None,
        request_params: Mapping[str, Any],
    ) -> None:
        common = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "server.address": server_address,
            "server.port": server_port,
        }
        span_attributes = {
            **common,
            "gen_ai.data_source.id": data_source,
            **request_attributes(request_params),
        }
        super().__init__(
            span_name=span_name(operation, model, data_source),
            span_kind=SpanKind.CLIENT,
            span_attributes={k: v for k, v in span_attributes.items() if v is not None},
            metric_attributes=common,
        )


def span_name(operation: str, model: str | None, data_source: str | None) -> str:
    """``{operation} {model}``; a retrieval is named by its data source instead."""
    target = data_source if operation == "retrieval" else model
    return f"{operation} {target}" if target else operation


def request_attributes(params: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes for request parameters; a dotted key is an attribute name as is."""
    attributes: dict[str, Any] = {}
    for name, value in params.items():
        key = name if "." in name else REQUEST_PARAMETERS.get(name)
        if key is None:
            raise TypeError(
                f"track_llm() got an unknown request parameter {name!r}; known: "
                f"{', '.join(sorted(REQUEST_PARAMETERS))}; give any other attribute by its "
                f"full name, e.g. **{{'myapp.request.{name}': ...}}"
            )
        if key == "gen_ai.request.stop_sequences" and isinstance(value, str):
            value = (value,)
        if key == "gen_ai.request.choice.count" and value == 1:
            continue  # semconv: recorded only when it is not 1
        attributes[key] = value
    return attributes


@overload
def track_llm(fn: F, /) -> F: ...
@overload
def track_llm(
    fn: None = None,
    /,
    *,
    provider: str,
    model: str | None = None,
    operation: str = "chat",
    server_address: str | None = None,
    server_port: int | None = None,
    data_source: str | None = None,
    **request_params: Any,
) -> LlmTracker: ...
def track_llm(
    fn: Any = None,
    /,
    *,
    provider: str | None = None,
    model: str | None = None,
    operation: str = "chat",
    server_address: str | None = None,
    server_port: int | None = None,
    data_source: str | None = None,
    **request_params: Any,
) -> Any:
    """Track an LLM call: a CLIENT span, its duration, token usage and, for streams, the
    time to the first chunk.

    ``provider`` is the ``gen_ai.provider.name`` (``openai``, ``anthropic``, ``ollama``,
    ``vllm``...), ``model`` the requested model; request parameters (``max_tokens``,
    ``temperature``, ``top_p``, ``stop``...) become ``gen_ai.request.*`` attributes.
    Usage is read from the result (OpenAI, Anthropic, Ollama shapes) unless reported with
    ``op.usage()``. A decorated generator, or a function returning a stream of chunks,
    keeps the span open until the stream ends; in a ``with`` block call ``op.chunk()``.

    Example::

        @apm.track_llm(provider="openai", model="gpt-4o-mini", temperature=0.2)
        def ask(question):
            return client.chat.completions.create(model="gpt-4o-mini", messages=[...])

        with apm.track_llm(provider="ollama", model="llama3.2") as op:
            for line in response.iter_lines():
                op.chunk(json.loads(line))
    """
    if provider is None and fn is None:
        raise TypeError("track_llm() needs provider=, e.g. track_llm(provider='openai')")
    tracker = LlmTracker(
        provider=provider or OTHER,  # bare @track_llm: the provider is not known
        model=model,
        operation=operation,
        server_address=server_address,
        server_port=server_port,
        data_source=data_source,
        request_params=request_params,
    )
    return tracker(fn) if fn is not None else tracker
