"""What a tracked call exports equals what hand-written OpenTelemetry exports.

The engine's fast path (one context read, no cast, fewer frames: ``lifecycle.begin`` and
``conclude``) must not change what reaches the wire. The same call is made twice, through
``track_database`` and written by hand with the SDK's public API, each into its own
capture under a deterministic clock; span names, kinds, attributes, events, status,
durations and parents, and the metric points, must be identical.
"""

import asyncio

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import autobot_apm as apm
from autobot_apm._sdk.setup import INSTRUMENTATION_SCOPE
from autobot_apm._tracking.runtime import DB_DURATION_BUCKETS
from autobot_apm.testing import Capture, capture_telemetry, fake_clock

ATTRIBUTES = {
    "db.system.name": "postgresql",
    "db.operation.name": "SELECT",
    "db.collection.name": "users",
}
WORK_SECONDS = 0.01


def tracker():
    return apm.track_database("postgresql", operation="SELECT", collection="users")


class HandWritten:
    """The same span and duration metric, written with the SDK's API only."""

    def __init__(self, capture: Capture, clock) -> None:
        self.clock = clock
        self.tracer = capture.tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)
        self.histogram = capture.meter_provider.get_meter(INSTRUMENTATION_SCOPE).create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(DB_DURATION_BUCKETS),
        )

    def call(self, body, error: BaseException | None = None):
        span = self.tracer.start_span("SELECT users", kind=SpanKind.CLIENT, attributes=ATTRIBUTES)
        token = otel_context.attach(trace.set_span_in_context(span))
        started = self.clock.perf_counter()
        metric_attributes = dict(ATTRIBUTES)
        try:
            body()
        except Exception as exc:
            kind = type(exc).__name__
            span.set_attribute("error.type", kind)
            span.add_event("exception", {
                "exception.type": kind, "exception.message": str(exc),
                "exception.stacktrace": "", "exception.escaped": "False",
            })  # fmt: skip
            span.set_status(Status(StatusCode.ERROR, f"{kind}: {exc}"))
            metric_attributes["error.type"] = kind
            raise
        finally:
            self.histogram.record(self.clock.perf_counter() - started, metric_attributes)
            span.end()
            otel_context.detach(token)


def exported(capture: Capture) -> tuple[list, list]:
    """The spans and metric points, as comparable plain data."""
    by_id = {span.context.span_id: span.name for span in capture.spans}
    spans = [
        (
            span.name, span.kind, dict(span.attributes),
            [(event.name, {k: v for k, v in event.attributes.items()
                           if k != "exception.stacktrace"}) for event in span.events],
            span.status.status_code, span.status.description,
            span.end_time - span.start_time,
            by_id.get(span.parent.span_id) if span.parent else None,
        )
        for span in capture.spans
    ]  # fmt: skip
    points = [
        (name, metric.unit, metric.description, dict(point.attributes), point.count,
         point.sum, tuple(point.explicit_bounds), tuple(point.bucket_counts))
        for name, metric in sorted(capture.metrics().items())
        for point in metric.data.data_points
    ]  # fmt: skip
    return spans, points


def run_both(tracked_calls, hand_written_calls) -> tuple[tuple, tuple]:
    with capture_telemetry() as ours, fake_clock() as clock:
        tracked_calls(Work(clock, ours))
    with capture_telemetry() as theirs, fake_clock() as clock:
        hand_written_calls(HandWritten(theirs, clock), Work(clock, theirs))
    return exported(ours), exported(theirs)


class Work:
    """The work inside the call: it takes time, and starts a span of its own or fails."""

    def __init__(self, clock, capture: Capture) -> None:
        self.clock = clock
        self.tracer = capture.tracer_provider.get_tracer("test")

    def __call__(self) -> None:
        self.clock.advance(WORK_SECONDS)
        with self.tracer.start_as_current_span("inner"):
            pass

    def fail(self) -> None:
        self.clock.advance(WORK_SECONDS)
        raise ValueError("boom")


def test_a_decorated_function():
    def tracked(work):
        tracker()(work)()

    def by_hand(hand, work):
        hand.call(work)

    ours, theirs = run_both(tracked, by_hand)
    assert theirs == ours
    assert ["inner", "SELECT users"] == [span[0] for span in ours[0]]
    assert "SELECT users" == ours[0][0][-1]  # the inner span's parent: the call was current
    assert 1 == ours[1][0][4]  # one duration measurement


def test_a_with_block():
    def tracked(work):
        with tracker():
            work()

    def by_hand(hand, work):
        hand.call(work)

    ours, theirs = run_both(tracked, by_hand)
    assert theirs == ours
    assert 2 == len(ours[0])


def test_a_coroutine():
    async def call(work):
        work()

    def tracked(work):
        asyncio.run(tracker()(call)(work))

    def by_hand(hand, work):
        hand.call(work)

    ours, theirs = run_both(tracked, by_hand)
    assert theirs == ours


def test_a_call_that_raises():
    def tracked(work):
        with pytest.raises(ValueError, match="boom"):
            tracker()(work.fail)()

    def by_hand(hand, work):
        with pytest.raises(ValueError, match="boom"):
            hand.call(work.fail)

    ours, theirs = run_both(tracked, by_hand)
    assert theirs == ours
    assert StatusCode.ERROR == ours[0][0][4]
