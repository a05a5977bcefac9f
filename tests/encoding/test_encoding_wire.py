"""Tests for autobot_apm._sdk.encoding.wire: varints, fixed-width numbers and lengths as
protobuf writes them, and the values protobuf refuses left to the SDK."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from autobot_apm._sdk.encoding.wire import (
    UnencodableError,
    append_text,
    delimited,
    int64,
    text,
    timestamp,
    uint32,
)

PROPERTY = settings(max_examples=300, deadline=None)


class TestNumbers:
    @PROPERTY
    @given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    def test_int64_matches_protobuf(self, value: int) -> None:
        """Negative numbers as ten-byte two's complement, as AnyValue.int_value has them."""
        assert AnyValue(int_value=value).SerializeToString() == b"\x18" + int64(value)

    @PROPERTY
    @given(st.integers(min_value=1, max_value=2**32 - 1))
    def test_uint32_matches_protobuf(self, value: int) -> None:
        """A dropped count's varint, as protobuf writes Span.dropped_attributes_count."""
        assert Span(dropped_attributes_count=value).SerializeToString() == b"\x50" + uint32(value)

    @PROPERTY
    @given(st.integers(min_value=1, max_value=2**64 - 1))
    def test_timestamp_matches_protobuf(self, value: int) -> None:
        """Eight little-endian bytes, as protobuf writes Span.start_time_unix_nano."""
        assert Span(start_time_unix_nano=value).SerializeToString() == b"\x39" + timestamp(value)

    @pytest.mark.parametrize(
        ("write", "value"),
        [
            (int64, 2**63),
            (int64, -(2**63) - 1),
            (uint32, -1),
            (uint32, 2**32),
            (uint32, 1.0),
            (uint32, True),
            (timestamp, -1),
            (timestamp, 2**64),
            (timestamp, 5.0),
        ],
    )
    def test_what_protobuf_refuses_is_unencodable(self, write, value) -> None:  # type: ignore[no-untyped-def]
        """Out of range or not an exact int: left to the SDK, never written wrong."""
        with pytest.raises(UnencodableError):
            write(value)


class TestText:
    @PROPERTY
    @given(st.text(max_size=300))
    def test_strings_and_their_lengths_match_protobuf(self, value: str) -> None:
        """UTF-8 with its length in front, one byte or more, as AnyValue.string_value."""
        expected = AnyValue(string_value=value).SerializeToString()
        assert expected == b"\x0a" + delimited(text(value))

    def test_a_lone_surrogate_raises(self) -> None:
        """protobuf refuses it too; the caller hands the batch to the SDK."""
        with pytest.raises(UnicodeEncodeError):
            text("\ud800")

    def test_not_a_string_is_unencodable(self) -> None:
        """A name or key that is not a string is left to the SDK."""
        with pytest.raises(UnencodableError):
            text(b"bytes")

    @pytest.mark.parametrize("value", [None, ""])
    def test_an_absent_or_empty_string_field_is_left_out(self, value: str | None) -> None:
        """proto3 writes no default value."""
        parts: list[bytes] = []
        append_text(b"\x2a", value, parts)
        assert [] == parts
