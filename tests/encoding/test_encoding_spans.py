"""Tests for autobot_apm._sdk.encoding.spans: each part of a span (ids, trace state,
parent and its remote flag, times, events, links, status, dropped counts) is written as
the SDK's encoder writes it, for hand-made spans and for the spans our trackers make."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceState

import autobot_apm as apm
from autobot_apm._sdk.encoding import SpanRequestEncoder, sdk_request_bytes
from autobot_apm.testing import capture_telemetry

RESOURCE = Resource({"service.name": "spans"})
LOCAL = SpanContext(trace_id=2**128 - 1, span_id=2**64 - 1, is_remote=False)
REMOTE = SpanContext(trace_id=5, span_id=6, is_remote=True, trace_state=TraceState([("rojo", "1")]))


def make_span(**fields: Any) -> ReadableSpan:
    fields.setdefault("context", LOCAL)
    return ReadableSpan(fields.pop("name", "span"), resource=RESOURCE, **fields)


def encoded(spans: list[ReadableSpan]) -> bytes:
    """Our bytes, asserted equal to the SDK's and not handed back to it."""
    encoder = SpanRequestEncoder()
    ours = encoder.encode(spans)
    assert sdk_request_bytes(spans) == ours
    assert 0 == encoder.batches_left_to_sdk
    return ours


def decoded_span(span: ReadableSpan) -> ProtoSpan:
    request = ExportTraceServiceRequest.FromString(encoded([span]))
    return request.resource_spans[0].scope_spans[0].spans[0]


def bounded(items: list[Any], maxlen: int) -> BoundedList:
    kept: BoundedList = BoundedList(maxlen)
    for item in items:
        kept.append(item)
    return kept


class TestParentAndFlags:
    @pytest.mark.parametrize(
        ("parent", "flags"),
        [(None, 0x100), (LOCAL, 0x100), (REMOTE, 0x300)],
        ids=["root", "local", "remote"],
    )
    def test_flags_say_whether_the_parent_is_remote(
        self, parent: SpanContext | None, flags: int
    ) -> None:
        """Always "has is_remote"; "is remote" only under a remote parent."""
        assert flags == decoded_span(make_span(parent=parent)).flags

    def test_a_link_carries_its_own_context_s_remote_flag(self) -> None:
        """A link's flags come from the linked context, not from the span's parent."""
        span = decoded_span(make_span(links=(Link(REMOTE), Link(LOCAL, {"why": "retry"}))))
        assert [0x300, 0x100] == [link.flags for link in span.links]

    def test_the_trace_state_is_written_as_the_header_reads(self) -> None:
        """key=value pairs joined by commas; an empty trace state is left out."""
        assert "rojo=1" == decoded_span(make_span(context=REMOTE)).trace_state
        assert "" == decoded_span(make_span()).trace_state


class TestEventsLinksAndCounts:
    def test_events_with_and_without_attributes(self) -> None:
        """Name, time, attributes and dropped count of each event, in order."""
        events = (
            Event("first", None, 10),
            Event("second", BoundedAttributes(1, {"a": 1, "b": 2}), 20),
            Event("", {"c": (1.5, 2.5)}, 0),
        )
        span = decoded_span(make_span(events=events))
        assert ["first", "second", ""] == [event.name for event in span.events]
        assert 1 == span.events[1].dropped_attributes_count

    def test_dropped_events_links_and_attributes_are_counted(self) -> None:
        """The SDK's bounded containers report what they dropped; so does the span."""
        span = make_span(
            attributes=BoundedAttributes(2, {"a": 1, "b": 2, "c": 3}),
            events=bounded([Event("e", None, 1), Event("f", None, 2)], 1),
            links=bounded([Link(LOCAL), Link(REMOTE), Link(LOCAL)], 1),
        )
        proto = decoded_span(span)
        assert (1, 1, 2) == (
            proto.dropped_attributes_count,
            proto.dropped_events_count,
            proto.dropped_links_count,
        )


class TestStatusAndTimes:
    @pytest.mark.parametrize(
        "status",
        [
            Status(StatusCode.UNSET),
            Status(StatusCode.OK),
            Status(StatusCode.ERROR),
            Status(StatusCode.ERROR, "boom"),
        ],
        ids=["unset", "ok", "error", "error with description"],
    )
    def test_the_status_is_always_written(self, status: Status) -> None:
        """Even an unset status is an (empty) status message, as the SDK writes it."""
        assert decoded_span(make_span(status=status)).HasField("status")

    @pytest.mark.parametrize("kind", list(SpanKind))
    def test_every_kind(self, kind: SpanKind) -> None:
        """Each SpanKind has its protobuf number (INTERNAL is 1, never left out)."""
        assert kind.value + 1 == decoded_span(make_span(kind=kind)).kind

    def test_an_unended_span_has_no_end_time(self) -> None:
        """A missing time is left out, as protobuf leaves out a field set to None."""
        assert 0 == decoded_span(make_span(start_time=3, end_time=None)).end_time_unix_nano


class TestTrackersSpans:
    def test_spans_of_every_tracker_are_byte_identical(self) -> None:
        """Real spans: database, API, cache, LLM, operation, an error, a remote parent."""
        with capture_telemetry() as capture:
            with (
                apm.attach_context(
                    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
                ),
                apm.track_api("/items/{id}", "GET"),
            ):
                with apm.track_database("postgresql", operation="SELECT", collection="items"):
                    pass
                apm.track_cache("items")(lambda key: None)("item:1")
            with pytest.raises(ValueError, match="bad input"), apm.track_operation("pipeline"):
                raise ValueError("bad input")
            usage = SimpleNamespace(prompt_tokens=11, completion_tokens=4)
            answer = SimpleNamespace(id="c-1", model="gpt-x", choices=[], usage=usage)
            apm.track_llm("openai", "gpt-x", temperature=0.2)(lambda: answer)()
            spans = capture.spans
        assert 5 == len(spans)
        assert any(span.parent is not None and span.parent.is_remote for span in spans)
        assert any(event.name == "exception" for span in spans for event in span.events)
        encoded(spans)
