"""LlmOperation: the handle of one tracked LLM call (see :mod:`autobot_apm.llm`)."""

from __future__ import annotations

from array import array
from typing import Any

from .._tracking.attributes import (
    coerce_attributes,
    low_cardinality_label,
    text_argument,
)
from .._tracking.runtime import Runtime
from .content import CapturedContent
from .record import CallEnd, call_cost, end_attributes, record_chunk_gaps, record_metrics
from .retrieval import RetrievalOperation
from .semconv import in_force
from .settings import LlmSettings, llm_settings
from .stream import stream_kind, wrap_stream
from .usage import MAX_CHOICES, LlmFacts, read, token_count

USAGE_DETAILS = {
    "cache_read_input_tokens": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation_input_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning_output_tokens": "gen_ai.usage.reasoning.output_tokens",
}


# Span attributes of this library's own (the conventions have no names for these facts).
UNKNOWN_PRICE = "autobot_apm.gen_ai.price_unknown"
BROKEN_OFF = "autobot_apm.gen_ai.stream.broken_off"
CHUNKS = "autobot_apm.gen_ai.response.chunks"
MAX_CHUNK_GAPS = 65536  # chunk timings kept per call (8 bytes each); later ones are dropped


class LlmOperation(RetrievalOperation):
    """A tracked LLM call: report usage, chunks, the response, messages, retrieval results.

    Usage and the response are read from the call's result (or its stream's chunks) when
    not reported; what is reported here always wins. ``retrieved()`` is the one shared
    with database handles (:class:`~autobot_apm._llm.retrieval.RetrievalOperation`).
    """

    __slots__ = (
        "_broken_off",
        "_chunk_gaps",
        "_chunks",
        "_content",
        "_first_chunk",
        "_found",
        "_generating",
        "_last_chunk",
        "_reported",
        "_settings",
    )

    def _on_start(self) -> None:
        self._found = LlmFacts()  # read from the result or the chunks
        self._reported = LlmFacts()  # said by the user
        self._first_chunk: float | None = None  # seconds from the start
        self._last_chunk = 0.0
        self._chunks = 0
        self._broken_off = False  # the consumer stopped reading the stream before its end
        self._generating = False  # a decorated generator has yielded and not ended yet
        runtime: Runtime | None = self._runtime
        self._settings = llm_settings(runtime) if runtime is not None else LlmSettings()
        capture = self._settings.capture
        self._content = CapturedContent(capture) if capture.enabled else None
        # Seconds between chunks, for time_per_output_chunk (latest conventions only).
        self._chunk_gaps = array("d") if self._settings.latest else None

    def usage(
        self, input_tokens: int | None = None, output_tokens: int | None = None, **extra: int
    ) -> None:
        """Report token counts; ``extra`` may name ``cache_read_input_tokens``,
        ``cache_creation_input_tokens``, ``reasoning_output_tokens`` (others are kept as
        ``autobot_apm.gen_ai.usage.<name>``)."""
        if self._ended:
            return
        reported = self._reported
        # token_count() is metric_number(): plain non-negative 64-bit ints, else None.
        inputs, outputs = token_count(input_tokens), token_count(output_tokens)
        if inputs is not None:
            reported.input_tokens = inputs
        if outputs is not None:
            reported.output_tokens = outputs
        for name, count in extra.items():
            tokens = token_count(count)
            if tokens is not None:
                key = USAGE_DETAILS.get(name, f"autobot_apm.gen_ai.usage.{name}")
                reported.usage_details[key] = tokens

    def chunk(self, chunk: object = None) -> None:
        """One chunk of a streamed answer arrived; the first one times the first chunk.

        A chunk object (OpenAI, Anthropic or Ollama shape) may also carry usage, the
        response model or a finish reason, which are then picked up.
        """
        if self._ended:
            return
        if self._chunk_gaps is not None:
            self._time_chunk(self._chunk_gaps)
        elif self._first_chunk is None:
            self._first_chunk = self.elapsed
        self._chunks += 1
        if chunk is not None:
            read(chunk, self._found)
            if self._content is not None:
                self._content.add_chunk(chunk)

    def _time_chunk(self, gaps: array[float]) -> None:
        now = self.elapsed
        if self._first_chunk is None:
            self._first_chunk = now
        elif len(gaps) < MAX_CHUNK_GAPS:
            gaps.append(now - self._last_chunk)
        self._last_chunk = now

    def response(
        self,
        model: str | None = None,
        id: str | None = None,  # shadows the builtin, to match gen_ai.response.id
        finish_reasons: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        """Report the model that answered, the response id and the finish reasons."""
        if self._ended:
            return
        reported = self._reported
        # Plain text, also from a str subclass (its methods never run), cut to the cap.
        model, id = (
            text_argument(model) if isinstance(model, str) else None,
            (text_argument(id) if isinstance(id, str) else None),
        )
        if model:
            reported.response_model = model
        if id:
            reported.response_id = id
        if type(finish_reasons) is list or type(finish_reasons) is tuple:
            reasons = [text_argument(reason, 64) for reason in finish_reasons[:MAX_CHOICES]]
            reported.finish_reasons = [reason for reason in reasons if reason]

    def prompt(self, messages: object) -> None:
        """The prompt (a string or chat messages); recorded only when capture is on."""
        if self._content is not None and not self._ended:
            self._content.set_prompt(messages)

    def completion(self, messages: object) -> None:
        """The answer (a string or messages); recorded only when capture is on."""
        if self._content is not None and not self._ended:
            self._content.completion = messages

    # --- engine hooks ---

    def _on_result(self, result: Any) -> Any:
        self._generating = False
        kind = stream_kind(result) if self._chunks == 0 else None
        if kind is not None:
            self._deferred = True  # the call ends with its stream
            return wrap_stream(result, self, kind, self._stream_broken_off)
        read(result, self._found)
        if self._content is not None:
            self._content.add_response(result)
        return result

    def _on_item(self, item: Any) -> None:
        # A decorated generator's item; its end (_on_result) or failure clears the flag,
        # so a generator closed by its consumer ends with it still set.
        self._generating = not self._deferred
        self.chunk(item)

    def _on_exception(self, exc: BaseException) -> None:
        self._generating = False  # a failure, recorded as such
        super()._on_exception(exc)

    def _stream_broken_off(self) -> None:
        """The returned stream was closed or dropped before it was exhausted."""
        self._broken_off = True

    def _on_end(self, duration: float) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        facts = self._reported.over(self._found)
        if facts.response_model:
            label = low_cardinality_label(facts.response_model)
            self._set_metric_attribute("gen_ai.response.model", label)
        requested = self._metric_attributes.get("gen_ai.request.model")
        settings = self._settings
        price = settings.price(facts.response_model, str(requested) if requested else None)
        end = CallEnd(facts, duration, self._first_chunk, self._chunks, call_cost(facts, price))
        attributes = end_attributes(end)
        if price is None and settings.prices and facts.input_tokens is not None:
            attributes[UNKNOWN_PRICE] = True  # a table is configured, but not for this model
        # Broken off: no usage came; what was seen is said, nothing is estimated.
        if self._broken_off or self._generating:
            attributes[BROKEN_OFF] = True
            attributes[CHUNKS] = self._chunks
        # Models, ids and reasons come from responses too: bounded and encodable here.
        self.span.set_attributes(coerce_attributes(in_force(attributes, settings.latest)))
        if self._content is not None:
            self._content.record(self.span, facts.finish_reasons)
        record_metrics(runtime, self._metric_attributes, end)
        if self._chunk_gaps:
            record_chunk_gaps(runtime, self._metric_attributes, self._chunk_gaps)
