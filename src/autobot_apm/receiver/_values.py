"""OTLP attribute values and ids as Python values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def decode_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value; arrays become tuples, key-value lists dicts.

    Scalars come back as the field that is set: str, bool, int, float or bytes; an
    empty AnyValue (a log record without a body) is None.
    """
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(decode_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return None if which is None else getattr(value, which)


def decode_attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: decode_value(pair.value) for pair in pairs}


def hex_id(raw: bytes) -> str | None:
    """Ids travel as raw bytes; an empty id means none (a root span, a log outside a span)."""
    return raw.hex() if raw else None
