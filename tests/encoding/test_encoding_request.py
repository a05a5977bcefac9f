"""Tests for autobot_apm._sdk.encoding.request: a batch of spans becomes the bytes the
SDK's ``encode_spans(spans).SerializeToString()`` makes, byte for byte, written by this
encoder and not handed back to the SDK."""

from __future__ import annotations

import pytest
from encoding_strategies import BATCHES
from hypothesis import given, settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from autobot_apm._sdk.encoding import SpanRequestEncoder, request, sdk_request_bytes

PROPERTY = settings(max_examples=150, deadline=None)


def span(name: str, resource: Resource, scope: InstrumentationScope | None = None) -> ReadableSpan:
    context = SpanContext(trace_id=1, span_id=2, is_remote=False)
    return ReadableSpan(
        name, context, resource=resource, instrumentation_scope=scope, start_time=5, end_time=9
    )


def encoded_by_us(spans: list[ReadableSpan], encoder: SpanRequestEncoder | None = None) -> bytes:
    """Our bytes, failing if the batch was handed to the SDK instead."""
    encoder = encoder or SpanRequestEncoder()
    encoded = encoder.encode(spans)
    assert encoder.batches_left_to_sdk == 0
    return encoded


class TestAgainstTheSdk:
    @PROPERTY
    @given(BATCHES)
    def test_any_batch_is_byte_identical(self, spans: list[ReadableSpan]) -> None:
        """Arbitrary values, events, links, statuses, resources and scopes: same bytes."""
        assert sdk_request_bytes(spans) == encoded_by_us(spans)

    @settings(max_examples=40, deadline=None)
    @given(BATCHES, BATCHES)
    def test_a_reused_encoder_stays_identical(
        self, first: list[ReadableSpan], second: list[ReadableSpan]
    ) -> None:
        """What one batch leaves cached does not change the next batch's bytes."""
        encoder = SpanRequestEncoder()
        encoded_by_us(first, encoder)
        assert sdk_request_bytes(second) == encoded_by_us(second, encoder)

    def test_an_empty_batch_is_an_empty_request(self) -> None:
        """No spans: no resource spans, zero bytes, as the SDK writes it."""
        assert sdk_request_bytes([]) == encoded_by_us([]) == b""


class TestGrouping:
    def test_equal_resources_share_one_group(self) -> None:
        """Two equal resource objects make one ResourceSpans, as the SDK's dict makes."""
        spans = [span("a", Resource({"k": "v"})), span("b", Resource({"k": "v"}))]
        decoded = ExportTraceServiceRequest.FromString(encoded_by_us(spans))
        assert 1 == len(decoded.resource_spans)
        assert sdk_request_bytes(spans) == encoded_by_us(spans)

    def test_groups_keep_the_order_first_seen(self) -> None:
        """Spans of interleaved resources and scopes are gathered under the first seen."""
        one, two = Resource({"n": 1}), Resource({"n": 2})
        alpha, beta = InstrumentationScope("alpha"), InstrumentationScope("beta")
        spans = [
            span("1", two, beta),
            span("2", one, alpha),
            span("3", two, alpha),
            span("4", two, beta),
        ]
        decoded = ExportTraceServiceRequest.FromString(encoded_by_us(spans))
        names = [
            [[s.name for s in scope.spans] for scope in rs.scope_spans]
            for rs in decoded.resource_spans
        ]
        assert [[["1", "4"], ["3"]], [["2"]]] == names
        assert sdk_request_bytes(spans) == encoded_by_us(spans)

    def test_equal_scopes_are_written_as_the_first_seen(self) -> None:
        """Scopes equal but for attributes: one group, with the first one's attributes."""
        resource = Resource({})
        first = InstrumentationScope("s", "1", None, {"which": "first"})
        second = InstrumentationScope("s", "1", None, {"which": "second"})
        spans = [span("a", resource, first), span("b", resource, second)]
        decoded = ExportTraceServiceRequest.FromString(encoded_by_us(spans))
        scope = decoded.resource_spans[0].scope_spans[0].scope
        assert "first" == scope.attributes[0].value.string_value
        assert sdk_request_bytes(spans) == encoded_by_us(spans)


class TestCaches:
    def test_resources_beyond_the_limit_clear_the_table(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """More distinct resources than the table holds: still identical, table bounded."""
        monkeypatch.setattr(request, "OBJECT_CACHE_LIMIT", 2)
        encoder = SpanRequestEncoder()
        for number in range(5):
            spans = [span("a", Resource({"n": number}))]
            assert sdk_request_bytes(spans) == encoded_by_us(spans, encoder)
        assert len(encoder._resources) <= 2

    def test_a_cached_resource_is_found_by_the_same_object_only(self) -> None:
        """An id reused by a new resource after the old one died is not mistaken for it."""
        encoder = SpanRequestEncoder()
        encoded_by_us([span("a", Resource({"n": "old"}))], encoder)
        encoder._resources = {
            id(key): (object(), value) for key, (_, value) in encoder._resources.items()
        }
        spans = [span("a", Resource({"n": "new"}))]
        assert sdk_request_bytes(spans) == encoded_by_us(spans, encoder)


class TestLeftToTheSdk:
    @pytest.mark.parametrize(
        "value",
        [2**63, -(2**63) - 1, "\ud800", object(), {1, 2}, [1, object()]],
        ids=["above int64", "below int64", "lone surrogate", "object", "set", "nested object"],
    )
    def test_a_value_the_sdk_skips_leaves_the_batch_to_it(self, value: object) -> None:
        """The SDK logs and skips such a pair; the whole batch goes to the SDK, same bytes."""
        spans = [span("a", Resource({}))]
        spans[0]._attributes = {"bad": value, "good": 1}
        encoder = SpanRequestEncoder()
        assert sdk_request_bytes(spans) == encoder.encode(spans)
        assert 1 == encoder.batches_left_to_sdk

    def test_a_non_string_key_leaves_the_batch_to_the_sdk(self) -> None:
        """protobuf refuses a key that is not a string; the SDK skips it, so we defer."""
        spans = [span("a", Resource({}))]
        spans[0]._attributes = {3: "three", "ok": "yes"}
        encoder = SpanRequestEncoder()
        assert sdk_request_bytes(spans) == encoder.encode(spans)
        assert 1 == encoder.batches_left_to_sdk

    def test_what_the_sdk_cannot_encode_raises_as_it_does(self) -> None:
        """A timestamp protobuf refuses: the SDK raises, and so does the encoder."""
        spans = [span("a", Resource({}))]
        spans[0]._start_time = -1
        with pytest.raises(ValueError, match="out of range"):
            sdk_request_bytes(spans)
        encoder = SpanRequestEncoder()
        with pytest.raises(ValueError, match="out of range"):
            encoder.encode(spans)
        assert 1 == encoder.batches_left_to_sdk
