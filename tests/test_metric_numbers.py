"""Numbers from user code never poison an export (issue 12).

One ``op.items(2**70)`` used to stay in the SDK's cumulative sum and fail every later
metric export ("Value out of range"). Every handle method that feeds an instrument or a
numeric span attribute now goes through ``metric_number``; these tests record hostile
numbers through all of them, then encode what was collected as the OTLP exporters do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

import autobot_apm as apm
from autobot_apm._llm.record import call_cost
from autobot_apm._llm.usage import LlmFacts
from autobot_apm._tracking.attributes import integer_argument, metric_number
from autobot_apm.testing import Capture, capture_telemetry

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ITEMS = "autobot_apm.pipeline.items"


class HostileInt(int):
    """An int whose every conversion and comparison raises."""

    def _fail(self, *args: object) -> Any:
        raise RuntimeError("hostile")

    __index__ = __int__ = __float__ = __bool__ = __lt__ = __le__ = _fail
    __gt__ = __ge__ = __add__ = __radd__ = __hash__ = _fail


class RaisingBool:
    def __bool__(self) -> bool:
        raise RuntimeError("hostile")


class RaisingFloat(float):
    def __float__(self) -> float:
        raise RuntimeError("hostile")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("hostile")


HUGE = 2**600
hostile_numbers = st.one_of(
    st.integers(min_value=-HUGE, max_value=HUGE),
    st.integers(min_value=INT64_MAX - 10, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 2**63, 2**64, 2**70, 1e400, -1e400, math.nan]),
    st.integers(min_value=-HUGE, max_value=HUGE).map(HostileInt),
    st.booleans(),
    st.builds(RaisingBool),
    st.floats(allow_nan=True).map(RaisingFloat),
)


def _encode(capture: Capture) -> None:
    """Encode metrics and spans as both OTLP exporters do; raises on an invalid value."""
    data = capture._reader.get_metrics_data()
    if data is not None:
        encode_metrics(data).SerializeToString()
    encode_spans(capture.spans).SerializeToString()


@contextmanager
def _pool(value: Any) -> Iterator[None]:
    pool = apm.observe_connection_pool(
        "hostile", used=lambda: value, idle=lambda: value, max=lambda: value, pending=lambda: value
    )
    try:
        yield
    finally:
        pool.close()


def _record_everywhere(value: Any) -> None:
    """Hand ``value`` to every handle method that feeds an instrument or a numeric attribute."""
    with apm.track_operation("media", kind="pipeline") as pipeline:
        with apm.track_operation("stage") as stage:
            stage.items(value)
            stage.items(1, failed=value)
            stage.items(value, failed=value)
            stage.set_attribute("hostile", value)
        pipeline.items(value)
    with apm.track_database("postgresql", server_port=value, batch_size=value) as db:
        db.rows(value)
        db.retrieved(count=value, top_k=value, best_score=value)
    with apm.track_llm(provider="openai", model="m", server_port=value, max_tokens=value) as llm:
        llm.usage(value, value, cache_read_input_tokens=value, custom_tokens=value)
        llm.retrieved(value, value, value)
        llm.chunk({"usage": {"prompt_tokens": value, "completion_tokens": value}})
    with apm.track_llm(provider="ollama", model="m") as llm:
        llm.chunk({"done": True, "prompt_eval_count": value, "eval_duration": value})
    with apm.track_cache("sessions") as cache:
        cache.hit()
    with apm.track_message("jobs", system="redis", server_port=value):
        pass


@settings(max_examples=60, deadline=None)
@given(value=hostile_numbers)
def test_hostile_numbers_never_poison_an_export(value: Any) -> None:
    """Whatever number reaches the handles, this export and every later one succeed."""
    with (
        capture_telemetry(llm_prices={"m": (1e300, 1e300)}) as capture,
        _pool(value),
    ):
        _record_everywhere(value)
        _encode(capture)
        with apm.track_operation("later", kind="pipeline") as later:
            later.items(3)
        _encode(capture)
        assert 3 == capture.counter_value(ITEMS, {"autobot_apm.operation.name": "later"})


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=INT64_MAX),
            st.integers(min_value=2**62, max_value=INT64_MAX),
        ),
        min_size=2,
        max_size=8,
    )
)
@example(values=[INT64_MAX, 1])
@example(values=[2**62, 2**62, 2**62])
def test_in_range_adds_cannot_overflow_the_cumulative_sum(values: list[int]) -> None:
    """Many in-range counts: neither the span totals nor the counter's sum leave 64 bits."""
    with capture_telemetry() as capture:
        for value in values:
            with apm.track_operation("stage", pipeline="p") as op:
                for count in values:
                    op.items(count, failed=count)
            with apm.track_operation("stage", pipeline="p") as op:
                op.items(value)
            _encode(capture)
        for span in capture.spans:
            for attribute in (span.attributes or {}).values():
                assert type(attribute) is not int or INT64_MIN <= attribute <= INT64_MAX
        for point in capture.metric_points(ITEMS):
            assert 0 <= point.value <= INT64_MAX
        with apm.track_operation("later", pipeline="p") as op:
            op.items(1)
        _encode(capture)


def test_the_issue_12_example() -> None:
    """The reported case: one op.items(2**70), then every export used to fail."""
    with capture_telemetry() as capture:
        with apm.track_operation("stage", kind="pipeline") as op:
            op.items(2**70)
        _encode(capture)
        with apm.track_operation("stage", kind="pipeline") as op:
            op.items(5)
        _encode(capture)
        assert 5 == capture.counter_value(ITEMS)


@given(value=hostile_numbers, floats=st.booleans(), minimum=st.sampled_from([None, 0, 1]))
def test_metric_number_is_representable_or_none(
    value: Any, floats: bool, minimum: int | None
) -> None:
    """Never raises; answers a plain 64-bit int, a finite float (when allowed), or None."""
    number = metric_number(value, floats=floats, minimum=minimum)
    if number is None:
        return
    if type(number) is int:
        assert INT64_MIN <= number <= INT64_MAX
    else:
        assert floats
        assert type(number) is float
        assert math.isfinite(number)
    assert minimum is None or number >= minimum
    assert type(value) is not bool


@given(value=hostile_numbers)
def test_integer_argument_goes_through_metric_number(value: Any) -> None:
    number = integer_argument(value)
    assert number is None or (type(number) is int and INT64_MIN <= number <= INT64_MAX)


def test_int_subclasses_keep_their_value() -> None:
    """An int subclass is read by its stored value, not by its (raising) overrides."""
    assert 5 == metric_number(HostileInt(5))
    assert type(metric_number(HostileInt(5))) is int
    assert metric_number(HostileInt(2**64)) is None


def test_a_cost_that_overflows_is_dropped() -> None:
    facts = LlmFacts(input_tokens=INT64_MAX, output_tokens=INT64_MAX)
    assert call_cost(facts, (1e300, 1e300)) is None
    assert 3.0 == call_cost(LlmFacts(input_tokens=1_000_000), (3, 0))
