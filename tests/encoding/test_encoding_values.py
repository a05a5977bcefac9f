"""Tests for autobot_apm._sdk.encoding.values: every attribute value the SDK's encoder
handles, alone under one key, gives the SDK's bytes; remembered pairs never stand in for
a different encoding."""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest
from encoding_strategies import HOMOGENEOUS, KEYS, VALUES
from hypothesis import given, settings
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from autobot_apm._sdk.encoding import SpanRequestEncoder, sdk_request_bytes, values

RESOURCE = Resource({"service.name": "values"})
CONTEXT = SpanContext(trace_id=7, span_id=8, is_remote=False)


class Level(enum.IntEnum):
    HIGH = 3


class Mood(enum.StrEnum):
    CALM = "calm"


def spans_with(*attribute_sets: dict[Any, Any]) -> list[ReadableSpan]:
    return [
        ReadableSpan("s", CONTEXT, resource=RESOURCE, attributes=attributes)
        for attributes in attribute_sets
    ]


def assert_identical(spans: list[ReadableSpan], encoder: SpanRequestEncoder | None = None) -> None:
    encoder = encoder or SpanRequestEncoder()
    assert sdk_request_bytes(spans) == encoder.encode(spans)
    assert 0 == encoder.batches_left_to_sdk


@settings(max_examples=500, deadline=None)
@given(KEYS, VALUES | HOMOGENEOUS)
def test_any_value_under_any_key_is_byte_identical(key: str, value: Any) -> None:
    """None, bool, str, int, float, bytes, arrays mixed or not, nested key-value lists."""
    assert_identical(spans_with({key: value}))


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        -0.0,
        math.inf,
        Level.HIGH,
        Mood.CALM,
        bytearray(b"ab"),
        memoryview(b"ab"),
        range(3),
        {"outer": {"inner": [1, "two", None]}},
        {1: "key through str"},
        (),
        {},
    ],
    ids=repr,
)
def test_values_of_unusual_types_are_byte_identical(value: Any) -> None:
    """Subclasses of the primitives and any Sequence or Mapping, as the SDK treats them."""
    assert_identical(spans_with({"k": value}))


def test_equal_values_of_different_types_are_not_confused() -> None:
    """True == 1 == 1.0 and 0.0 == -0.0, but each is written as its own kind."""
    encoder = SpanRequestEncoder()
    for value in (1, True, 1.0, 0, False, 0.0, -0.0, Level.HIGH, 3):
        assert_identical(spans_with({"k": value}), encoder)


def test_remembered_pairs_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values that never repeat do not fill memory: the table is dropped when full."""
    monkeypatch.setattr(values, "CACHE_LIMIT", 3)
    encoder = SpanRequestEncoder()
    for number in range(10):
        assert_identical(spans_with({"id": f"request-{number}", "n": number}), encoder)
    tables = encoder._attributes._remembered
    assert all(len(table) <= 3 for table in tables.values())
