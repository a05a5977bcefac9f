"""Attribute values (OTLP ``AnyValue``) and attribute lists (``KeyValue``) as bytes.

The cases and their order follow the SDK's ``_encode_value``: ``None`` is an empty value,
then bool, str, int, float, bytes, any other sequence (an array, mixed or not), any
other mapping (a key-value list, keys passed through ``str``). A value the SDK would log
and skip (another type, an int outside int64, a string with lone surrogates) raises
``UnencodableError`` instead, so that the whole request is left to the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .wire import UnencodableError, delimited, double, int64, text

# AnyValue fields: 1 string, 2 bool, 3 int, 4 double, 5 array, 6 key-value list, 7 bytes.
_STRING = b"\x0a"
_TRUE = b"\x10\x01"
_FALSE = b"\x10\x00"
_INT = b"\x18"
_DOUBLE = b"\x21"
_ARRAY = b"\x2a"
_KVLIST = b"\x32"
_BYTES = b"\x3a"
# KeyValue fields: 1 key, 2 value; ArrayValue and KeyValueList: 1 values.
_KEY = b"\x0a"
_VALUE = b"\x12"
_ELEMENT = b"\x0a"

# A cache of encoded pairs is dropped whole when it grows past this many entries: a
# value that changes with every span (an id, a timestamp) must not fill memory.
CACHE_LIMIT = 4096


def any_value(value: Any) -> bytes:
    """The body of the ``AnyValue`` message for ``value``."""
    kind = type(value)
    if kind is str:
        encoded = str.encode(value, "utf-8")
        return _STRING + delimited(encoded)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return _INT + int64(value)
    if kind is float:
        return _DOUBLE + double(value)
    return _any_other_value(value)


def _any_other_value(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, str):
        return _STRING + delimited(text(value))
    if isinstance(value, int):
        return _INT + int64(int.__int__(value))
    if isinstance(value, float):
        return _DOUBLE + double(value)
    if isinstance(value, bytes):
        return _BYTES + delimited(bytes(memoryview(value)))
    if isinstance(value, Sequence):
        elements = b"".join([_ELEMENT + delimited(any_value(element)) for element in value])
        return _ARRAY + delimited(elements)
    if isinstance(value, Mapping):
        pairs = b"".join([_ELEMENT + delimited(key_value(str(k), v)) for k, v in value.items()])
        return _KVLIST + delimited(pairs)
    raise UnencodableError(f"no AnyValue for {type(value).__name__}")


def key_value(key: object, value: Any) -> bytes:
    """The body of a ``KeyValue``: the key (left out when empty) and the value, always."""
    encoded_key = text(key)
    prefix = _KEY + delimited(encoded_key) if encoded_key else b""
    return prefix + _VALUE + delimited(any_value(value))


class AttributeWriter:
    """Writes attribute lists, remembering the encoding of the pairs that repeat.

    Most attributes of most spans repeat (a method, a route, a database name, a port):
    a string, int or bool value under a string key is encoded once and looked up after.
    Only exact ``str``, ``int`` and ``bool`` are remembered, one table each, since
    ``True == 1`` and a subclass may compare equal to a different encoding.
    """

    def __init__(self) -> None:
        self._remembered: dict[type, dict[tuple[str, Any], bytes]] = {str: {}, int: {}, bool: {}}

    def write(self, attributes: Any, tag: bytes, parts: list[bytes]) -> None:
        """Append each pair of ``attributes`` to ``parts`` as a field with ``tag``."""
        if not attributes:
            return
        remembered = self._remembered
        for key, value in attributes.items():
            table = remembered.get(type(value))
            if table is None or type(key) is not str:
                parts.append(tag)
                parts.append(delimited(key_value(key, value)))
                continue
            field = table.get((key, value))
            if field is None:
                field = self._remember(table, key, value)
            parts.append(tag)
            parts.append(field)

    @staticmethod
    def _remember(table: dict[tuple[str, Any], bytes], key: str, value: Any) -> bytes:
        field = delimited(key_value(key, value))
        if len(table) >= CACHE_LIMIT:
            table.clear()
        table[(key, value)] = field
        return field
