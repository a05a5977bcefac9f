"""Protocol Buffers' wire format, the few pieces an OTLP span request needs.

Every message here is written as bytes: a field is its tag (field number and wire type,
as a varint), then for length-delimited fields the body's length and the body. Nested
messages are written inside out, so each length is known when it is written.
"""

from __future__ import annotations

import struct

INT64_MIN = -(1 << 63)
INT64_LIMIT = 1 << 63
UINT32_LIMIT = 1 << 32
UINT64_LIMIT = 1 << 64

fixed64 = struct.Struct("<Q").pack
double = struct.Struct("<d").pack

# Lengths under 128 are the common case (attribute values, names): one byte, looked up.
_ONE_BYTE = tuple(bytes((number,)) for number in range(128))


class UnencodableError(Exception):
    """A value this encoder leaves to the SDK's encoder, which decides what it becomes."""


def varint(value: int) -> bytes:
    """An unsigned integer, seven bits a byte, least significant first. ``value`` >= 0."""
    if value < 128:
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 127:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def int64(value: int) -> bytes:
    """An int64 field's varint: negative numbers as their 64-bit two's complement."""
    if not INT64_MIN <= value < INT64_LIMIT:
        raise UnencodableError("outside int64")
    return varint(value + UINT64_LIMIT if value < 0 else value)


def uint32(value: object) -> bytes:
    """A uint32 field's varint; what protobuf would refuse is left to the SDK."""
    if type(value) is not int or not 0 <= value < UINT32_LIMIT:
        raise UnencodableError("not a uint32")
    return varint(value)


def timestamp(value: object) -> bytes:
    """A fixed64 nanosecond timestamp."""
    if type(value) is not int or not 0 <= value < UINT64_LIMIT:
        raise UnencodableError("not a uint64")
    return fixed64(value)


def delimited(body: bytes) -> bytes:
    """A length-delimited body with its length in front (the tag is the caller's)."""
    return varint(len(body)) + body


def text(value: object) -> bytes:
    """A string field's UTF-8; a string protobuf cannot encode (lone surrogates) raises."""
    if not isinstance(value, str):
        raise UnencodableError("not a string")
    return str.encode(value, "utf-8")


def append_text(tag: bytes, value: object, parts: list[bytes]) -> None:
    """A string field, left out when ``None`` or empty, as protobuf leaves it out."""
    if value is None:
        return
    encoded = text(value)
    if encoded:
        parts.append(tag)
        parts.append(delimited(encoded))
