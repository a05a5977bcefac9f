"""Hypothesis strategies for spans as the SDK's encoder accepts them, shared by the tests
of autobot_apm._sdk.encoding: attribute values of every AnyValue kind, events, links,
statuses, trace states, parents, dropped counts, resources and scopes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    INT64,
    st.floats(),  # NaN, infinities and -0.0 included: their bits must survive
    st.binary(max_size=8),
)
KEYS = st.text(max_size=8)  # the empty key included: protobuf leaves it out


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(KEYS, children, max_size=3),
        st.dictionaries(st.integers(-5, 5), children, max_size=2),  # keys through str()
    )


VALUES = st.recursive(SCALARS, _containers, max_leaves=6)
HOMOGENEOUS = st.one_of(
    st.lists(st.text(max_size=5), max_size=4).map(tuple),
    st.lists(st.booleans(), max_size=4).map(tuple),
    st.lists(INT64, max_size=4).map(tuple),
    st.lists(st.floats(), max_size=4).map(tuple),
)
ATTRIBUTES = st.dictionaries(KEYS, st.one_of(VALUES, HOMOGENEOUS), max_size=4)
TIMESTAMPS = st.integers(min_value=0, max_value=2**64 - 1)
COUNTS = st.integers(min_value=0, max_value=3)


@st.composite
def bounded_attributes(draw: st.DrawFn) -> Any:
    """A plain dict, or the SDK's bounded mapping that dropped some pairs."""
    attributes = draw(ATTRIBUTES)
    if not draw(st.booleans()):
        return attributes
    return BoundedAttributes(maxlen=draw(COUNTS), attributes=attributes, immutable=True)


TRACE_STATES = st.sampled_from(
    [TraceState(), TraceState([("rojo", "00f067aa0ba902b7")]), TraceState([("a", "1"), ("b", "2")])]
)


@st.composite
def span_contexts(draw: st.DrawFn) -> SpanContext:
    return SpanContext(
        trace_id=draw(st.integers(0, 2**128 - 1)),
        span_id=draw(st.integers(0, 2**64 - 1)),
        is_remote=draw(st.booleans()),
        trace_flags=TraceFlags(draw(st.sampled_from([0, 1]))),
        trace_state=draw(TRACE_STATES),
    )


@st.composite
def events(draw: st.DrawFn) -> Event:
    return Event(
        name=draw(st.text(max_size=8)),
        attributes=draw(st.none() | bounded_attributes()),
        timestamp=draw(TIMESTAMPS),
    )


@st.composite
def links(draw: st.DrawFn) -> Link:
    return Link(draw(span_contexts()), attributes=draw(st.none() | bounded_attributes()))


def _bounded(items: list[Any], maxlen: int | None) -> Any:
    bounded: BoundedList = BoundedList(maxlen)
    for item in items:
        bounded.append(item)
    return bounded


@st.composite
def sequences_maybe_bounded(draw: st.DrawFn, items: st.SearchStrategy[Any]) -> Any:
    """A tuple, or the SDK's bounded list that dropped some items."""
    drawn = draw(st.lists(items, max_size=2))
    return _bounded(drawn, draw(COUNTS)) if draw(st.booleans()) else tuple(drawn)


STATUSES = st.one_of(
    st.builds(Status, st.sampled_from(list(StatusCode))),
    st.builds(Status, st.just(StatusCode.ERROR), st.text(max_size=8)),
)
# Equal resources as distinct objects, so grouping must go by equality, not identity.
RESOURCES = st.sampled_from(
    [
        Resource({"service.name": "shop"}),
        Resource({"service.name": "shop"}),
        Resource({"service.name": "shop", "deployment.environment.name": "prod"}),
        Resource({"service.name": "shop"}, schema_url="https://example.com/schema/1"),
        Resource({}),
    ]
)
# Scopes equal by name, version and schema URL but differing in attributes: the SDK
# groups them together and writes the first one seen.
SCOPES = st.sampled_from(
    [
        None,
        InstrumentationScope("autobot_apm", "1.0"),
        InstrumentationScope("autobot_apm", "1.0", None, {"first": True}),
        InstrumentationScope("autobot_apm", "1.0", None, {"second": 2}),
        InstrumentationScope("other", None, "https://example.com/schema/2"),
        InstrumentationScope(""),
    ]
)


@st.composite
def spans(draw: st.DrawFn) -> ReadableSpan:
    return ReadableSpan(
        name=draw(st.text(max_size=12)),
        context=draw(span_contexts()),
        parent=draw(st.none() | span_contexts()),
        resource=draw(RESOURCES),
        attributes=draw(bounded_attributes()),
        events=draw(sequences_maybe_bounded(events())),
        links=draw(sequences_maybe_bounded(links())),
        kind=draw(st.sampled_from(list(SpanKind))),
        status=draw(STATUSES),
        start_time=draw(st.none() | TIMESTAMPS),
        end_time=draw(st.none() | TIMESTAMPS),
        instrumentation_scope=draw(SCOPES),
    )


BATCHES = st.lists(spans(), max_size=4)
