"""Hand-written floors for the trackers that record more than one span and one histogram.

The reference floor (:class:`._floor.Floor`) is what ``track_database`` exports. A cache
call also adds to a counter, and an LLM call sets the response's attributes and records
its token usage: these floors write the same telemetry with the SDK's API by hand, on the
runtime's own instruments, so that each tracker can be compared with what it must do.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import set_span_in_context

from autobot_apm._llm.record import OPERATION_DURATION, TOKEN_USAGE
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.cache import CACHE_DURATION, CACHE_OPERATIONS, CacheTracker
from autobot_apm.llm import LlmTracker

from ._floor import openai_call, work


class CacheFloor:
    """A cache look-up by hand: span, ``cache.hit``, an add to the counter, a duration."""

    def __init__(self, runtime: _runtime.Runtime, tracker: CacheTracker) -> None:
        self.tracer = runtime.tracer
        self.counter = runtime.counter(CACHE_OPERATIONS)._counter  # the SDK's own counter
        self.histogram = runtime.histogram(CACHE_DURATION)
        self.name, self.kind = tracker.span_name, tracker.span_kind
        self.span_attributes = tracker.span_attributes
        self.metric_attributes = tracker.metric_attributes

    def call(self) -> Any:
        span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.span_attributes)
        token = otel_context.attach(set_span_in_context(span))
        started = perf_counter()
        try:
            result = work()
        finally:
            duration = perf_counter() - started
            hit = result is not None
            span.set_attribute("cache.hit", hit)
            attributes = {**self.metric_attributes, "cache.result": "hit" if hit else "miss"}
            self.counter.add(1, attributes)
            self.histogram.record(duration, attributes)
            span.end()
            otel_context.detach(token)
        return result


class LlmFloor:
    """An OpenAI chat call by hand: the response's attributes, duration and token usage."""

    def __init__(self, runtime: _runtime.Runtime, tracker: LlmTracker) -> None:
        self.tracer = runtime.tracer
        self.duration = runtime.histogram(OPERATION_DURATION)
        self.tokens = runtime.histogram(TOKEN_USAGE)
        self.name, self.kind = tracker.span_name, tracker.span_kind
        self.span_attributes = tracker.span_attributes
        self.metric_attributes = tracker.metric_attributes

    def call(self) -> Any:
        span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.span_attributes)
        token = otel_context.attach(set_span_in_context(span))
        started = perf_counter()
        try:
            answer = openai_call()
        except BaseException:
            span.end()
            otel_context.detach(token)
            raise
        # Recorded with the span current, as track_llm does: the exemplars link to it.
        duration = perf_counter() - started
        usage = answer.usage
        span.set_attributes(
            {
                "gen_ai.response.model": answer.model,
                "gen_ai.response.id": answer.id,
                "gen_ai.response.finish_reasons": [c.finish_reason for c in answer.choices],
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
                "autobot_apm.gen_ai.output_tokens_per_second": usage.completion_tokens / duration,
            }
        )
        attributes = {**self.metric_attributes, "gen_ai.response.model": answer.model}
        self.duration.record(duration, attributes)
        self.tokens.record(usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"})
        self.tokens.record(usage.completion_tokens, {**attributes, "gen_ai.token.type": "output"})
        span.end()
        otel_context.detach(token)
        return answer
