"""What a tracked LLM call records as it ends: span attributes, metrics and cost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .._tracking.attributes import metric_number
from .._tracking.runtime import MetricSpec, Runtime
from .usage import LlmFacts

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
# Latest conventions only (the opt-in): one record per chunk after the first. The server's
# time-per-output-token boundaries (0.01 s to 2.5 s), with 1 ms and 5 ms added below them:
# a client reading a fast model gets its chunks a few milliseconds apart.
CHUNK_GAP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                     0.75, 1, 2.5)  # fmt: skip
TIME_PER_OUTPUT_CHUNK = MetricSpec(
    "gen_ai.client.operation.time_per_output_chunk", "histogram", "s",
    "Time between consecutive chunks of a streamed answer, after the first.", CHUNK_GAP_BUCKETS,
)  # fmt: skip
# UCUM, which OpenTelemetry units follow, has no currency: the currency is an annotation.
COST = MetricSpec(
    "autobot_apm.gen_ai.client.cost", "counter", "{USD}",
    "Cost of LLM calls in US dollars, from the configured price table.",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallEnd:
    """Everything known about a call when it ends."""

    facts: LlmFacts
    duration: float
    first_chunk: float | None  # seconds from the start; None when nothing streamed
    chunks: int
    cost: float | None


def call_cost(facts: LlmFacts, price: tuple[float, float] | None) -> float | None:
    """US dollars for the call's tokens at ``price`` (per million input, output tokens)."""
    if price is None or (facts.input_tokens is None and facts.output_tokens is None):
        return None
    input_price, output_price = price
    cost = ((facts.input_tokens or 0) * input_price
            + (facts.output_tokens or 0) * output_price) / 1e6  # fmt: skip
    # Huge token counts times a price can overflow to inf: such a cost is dropped.
    number = metric_number(cost, floats=True)
    return None if number is None else float(number)


def output_rate(end: CallEnd) -> float | None:
    """Output tokens per second: after the first chunk for a stream (the decoding rate,
    as Ollama reports it), over the whole call otherwise."""
    if not end.facts.output_tokens:
        return None
    generating = end.duration
    if end.first_chunk is not None and end.chunks >= 2:
        generating -= end.first_chunk
    return end.facts.output_tokens / generating if generating > 0 else None


def end_attributes(end: CallEnd) -> dict[str, Any]:
    """The span attributes known only at the end of the call."""
    facts = end.facts
    attributes: dict[str, Any] = {
        "gen_ai.response.model": facts.response_model,
        "gen_ai.response.id": facts.response_id,
        "gen_ai.response.finish_reasons": tuple(facts.finish_reasons) or None,
        "gen_ai.usage.input_tokens": facts.input_tokens,
        "gen_ai.usage.output_tokens": facts.output_tokens,
        **facts.usage_details,
        **facts.server_durations,
        "autobot_apm.gen_ai.output_tokens_per_second": output_rate(end),
        "autobot_apm.gen_ai.cost": end.cost,
    }
    if end.first_chunk is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = end.first_chunk
        attributes["autobot_apm.gen_ai.response.chunks"] = end.chunks
        attributes["gen_ai.request.stream"] = True  # whatever was declared, it streamed
    return {key: value for key, value in attributes.items() if value is not None}


def record_metrics(runtime: Runtime, attributes: dict[str, Any], end: CallEnd) -> None:
    """One duration; tokens, first-chunk time and cost when they are known."""
    runtime.histogram(OPERATION_DURATION).record(end.duration, attributes)
    for token_type, count in (("input", end.facts.input_tokens),
                              ("output", end.facts.output_tokens)):  # fmt: skip
        if count is not None:
            typed = {**attributes, "gen_ai.token.type": token_type}
            runtime.histogram(TOKEN_USAGE).record(count, typed)
    if end.first_chunk is not None:
        runtime.histogram(TIME_TO_FIRST_CHUNK).record(end.first_chunk, attributes)
    if end.cost is not None:
        runtime.counter(COST).add(end.cost, attributes)


def record_chunk_gaps(runtime: Runtime, attributes: dict[str, Any], gaps: Iterable[float]) -> None:
    """One time_per_output_chunk record per gap between two chunks."""
    histogram = runtime.histogram(TIME_PER_OUTPUT_CHUNK)
    for gap in gaps:
        histogram.record(gap, attributes)
