"""Turn any Python value into a valid OpenTelemetry attribute value, without ever raising.

Users hand us whatever they have: numpy scalars, dicts, objects whose ``__str__``
raises, lists that contain themselves. OpenTelemetry accepts only strings, booleans,
64-bit integers, floats and homogeneous sequences of one of those, so everything else
is converted here, with bounded cost and bounded size.

    >>> coerce([1, "a"])
    ('1', 'a')
    >>> coerce({"model": "gpt-4", "n": 2})
    '{"model":"gpt-4","n":2}'
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import islice
from typing import Any, Final, TypeVar, cast

from .errors import contained
from .exceptions import error_type, exception_attributes
from .numbers import INT64_MAX, INT64_MIN, integer_argument, metric_number
from .text import (
    MAX_ATTRIBUTE_LENGTH,
    OTHER,
    TRUNCATION_MARKER,
    UNPRINTABLE,
    safe_str,
    truncate,
)

# Text, numbers and exceptions live in their own modules; the trackers import them here.
__all__ = [
    "MAX_ATTRIBUTE_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_SEQUENCE_ITEMS",
    "OTHER",
    "TRUNCATION_MARKER",
    "UNPRINTABLE",
    "AttributeValue",
    "attribute_key",
    "coerce",
    "coerce_attributes",
    "error_type",
    "exception_attributes",
    "integer_argument",
    "low_cardinality_label",
    "metric_number",
    "safe_str",
    "text_argument",
    "truncate",
]

AttributeValue = (
    str
    | bool
    | int
    | float
    | tuple[str, ...]
    | tuple[bool, ...]
    | tuple[int, ...]
    | tuple[float, ...]
)

MAX_KEY_LENGTH: Final = 255
MAX_SEQUENCE_ITEMS: Final = 128

_NESTED_DEPTH = 4
_NESTED_NODES = 128  # values rendered in one nested structure, all levels together
_MAX_ATTRIBUTES = 1024  # the SDK keeps 128 attributes by default; reading more is waste
_SEQUENCES = (list, tuple, set, frozenset, range, deque)
T = TypeVar("T")


class _NotPrimitive:
    """Marks a value that is not a single primitive (None is a real answer: drop it)."""


_NOT_PRIMITIVE = _NotPrimitive()
Primitive = str | bool | int | float


_NOTHING: AttributeValue | None = None
_NO_ATTRIBUTES: dict[str, AttributeValue] = {}


@contained(_NOTHING)
def coerce(value: object, max_length: int = MAX_ATTRIBUTE_LENGTH) -> AttributeValue | None:
    """A valid attribute value for ``value``; None means "do not record it".

    Strings longer than ``max_length`` end in ``…``; integers beyond 64 bits become
    strings; sequences become tuples of one type (strings when mixed), at most 128
    items; mappings and nested containers become a bounded JSON string; other objects
    their ``str()``.
    """
    return _coerce(value, max_length)


def _coerce(value: object, max_length: int) -> AttributeValue | None:
    kind = type(value)
    if kind is list or kind is tuple:
        return _sequence(value, max_length, sort=False)
    primitive = _primitive(value, max_length)
    if not isinstance(primitive, _NotPrimitive):
        return primitive
    if issubclass(kind, Mapping):
        return truncate(_to_json(value, max_length), max_length)
    if _is_sequence(kind):
        return _sequence(value, max_length, sort=issubclass(kind, AbstractSet))
    return truncate(safe_str(value), max_length)


def _primitive(value: object, max_length: int) -> Primitive | _NotPrimitive | None:
    # Exact types first, the common case; then subclasses, tested on type(value):
    # isinstance() may consult a __class__ that lies or raises (mocks, proxies).
    if type(value) is str:
        return (
            value if len(value) <= max_length and value.isascii() else truncate(value, max_length)
        )
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else repr(value)  # OTLP values stay finite
    if type(value) is bool or value is None:
        return value
    kind = type(value)
    if issubclass(kind, numbers.Integral):
        return _integer(value, max_length)
    if issubclass(kind, numbers.Real):
        return _real(value)
    if issubclass(kind, str):  # a subclass may override len() or slicing: copy it first
        return truncate(str.__str__(value), max_length)
    if issubclass(kind, bytes | bytearray | memoryview):
        # UTF-8 needs at most 4 bytes a character: decode no more than can be kept. The
        # buffer is read through memoryview, which no subclass method can override.
        head = _convert(lambda data: memoryview(data)[: 4 * max_length + 4].tobytes(), value)
        text = head.decode("utf-8", "replace") if type(head) is bytes else UNPRINTABLE
        return truncate(text, max_length)
    return _NOT_PRIMITIVE


def _real(value: object) -> float | str:
    """A float subclass by its stored value (no override runs); other reals by float()."""
    convert = float.__float__ if issubclass(type(value), float) else float
    number = _convert(convert, value)
    if type(number) is float and not math.isfinite(number):
        return repr(number)
    return number


def _integer(value: object, max_length: int) -> int | str:
    # An int subclass by its stored value: its __int__ or __index__ may raise or lie.
    number = _convert(int.__int__ if issubclass(type(value), int) else operator.index, value)
    if isinstance(number, int) and not INT64_MIN <= number <= INT64_MAX:
        # OTLP integers are 64 bits; str() refuses ints of more than 4,300 digits.
        text = _convert(str, number)
        shown = text if text != UNPRINTABLE else f"<int of {number.bit_length()} bits>"
        return truncate(shown, max_length)
    return number


def _convert(convert: Callable[[Any], T], value: object) -> T | str:
    try:
        return convert(value)
    except Exception:
        return UNPRINTABLE


def _is_sequence(kind: type) -> bool:
    if issubclass(kind, _SEQUENCES):
        return True
    return issubclass(kind, Sequence | AbstractSet) and not issubclass(kind, str | bytes)


def _is_container(kind: type) -> bool:
    return issubclass(kind, Mapping) or _is_sequence(kind)


def _items(values: Iterable[object], limit: int) -> list[object] | None:
    """At most ``limit`` items; None when the container fails to iterate."""
    try:
        return list(islice(iter(values), limit))
    except Exception:
        return None


def _sequence(values: object, max_length: int, *, sort: bool) -> AttributeValue:
    items = _items(cast("Iterable[object]", values), MAX_SEQUENCE_ITEMS)
    if items is None:
        return UNPRINTABLE
    primitives: list[Primitive] = []
    for item in items:
        primitive = _primitive(item, max_length)
        if isinstance(primitive, _NotPrimitive):
            if _is_container(type(item)):  # nested: keep the structure, as JSON
                return truncate(_to_json(values, max_length), max_length)
            primitive = truncate(safe_str(item), max_length)
        if primitive is not None:
            primitives.append(primitive)
    return _homogeneous(primitives, sort=sort)


def _homogeneous(primitives: list[Primitive], *, sort: bool) -> AttributeValue:
    """OpenTelemetry arrays hold one type: mixed items all become strings."""
    if len(set(map(type, primitives))) > 1:
        return tuple(map(str, primitives))
    if sort:  # a set has no order of its own; one kind of primitive is comparable
        primitives = sorted(primitives)
    return tuple(primitives)  # type: ignore[return-value]  # one kind: homogeneous


def _to_json(value: object, max_length: int) -> str:
    budget = [_NESTED_NODES]
    plain = _plain(value, max_length, _NESTED_DEPTH, budget)
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


def _plain(value: object, max_length: int, depth: int, budget: list[int]) -> object:
    """A JSON-ready copy, cut at a depth and a node count (recursive lists end there)."""
    budget[0] -= 1
    if budget[0] < 0 or depth < 0:
        return TRUNCATION_MARKER
    primitive = _primitive(value, max_length)
    if not isinstance(primitive, _NotPrimitive):
        return primitive
    kind = type(value)
    if issubclass(kind, Mapping):
        pairs = _items(_mapping_items(cast("Mapping[Any, Any]", value)), MAX_SEQUENCE_ITEMS)
        return {
            _pair_key(pair): _plain(_pair_value(pair), max_length, depth - 1, budget)
            for pair in pairs or ()
        }
    if _is_sequence(kind):
        items = _items(cast("Iterable[object]", value), MAX_SEQUENCE_ITEMS) or []
        return [_plain(item, max_length, depth - 1, budget) for item in items]
    return truncate(safe_str(value), max_length)


def _mapping_items(mapping: Mapping[Any, Any]) -> Iterable[object]:
    try:
        return mapping.items()
    except Exception:
        return ()


def _pair_key(pair: object) -> str:
    key = pair[0] if type(pair) is tuple and len(pair) == 2 else pair
    return key if type(key) is str else safe_str(key)


def _pair_value(pair: object) -> object:
    return pair[1] if type(pair) is tuple and len(pair) == 2 else None


@contained(_NO_ATTRIBUTES)
def coerce_attributes(
    attributes: Mapping[Any, object] | None, max_length: int = MAX_ATTRIBUTE_LENGTH
) -> dict[str, AttributeValue]:
    """Coerce every value of ``attributes``; None values and unusable keys are dropped."""
    if type(attributes) is dict and len(attributes) <= _MAX_ATTRIBUTES:
        return _coerce_dict(attributes, max_length)
    if not issubclass(type(attributes), Mapping):
        return {}
    coerced: dict[str, AttributeValue] = {}
    pairs = _items(_mapping_items(cast("Mapping[Any, Any]", attributes)), _MAX_ATTRIBUTES)
    for pair in pairs or []:
        key, value = _attribute_key(_pair_key(pair)), _pair_value(pair)
        result = _coerce(value, max_length) if key else None
        if key and result is not None:
            coerced[key] = result
    return coerced


def _coerce_dict(attributes: dict[Any, Any], max_length: int) -> dict[str, AttributeValue]:
    # The common case, written out: a plain dict (its items() runs no user code) whose
    # keys are short ASCII strings and whose values are plain, finite, in-range scalars
    # is copied as it is; anything else takes the general path, item by item.
    coerced: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and key.isascii():
            name = key if key != UNPRINTABLE else None
        else:
            name = _attribute_key(key if type(key) is str else safe_str(key))
        if not name:
            continue
        kind = type(value)
        if (
            (kind is str and len(value) <= max_length and value.isascii())
            or kind is bool
            or (kind is int and INT64_MIN <= value <= INT64_MAX)
            or (kind is float and math.isfinite(value))
        ):
            coerced[name] = value
        else:
            result = _coerce(value, max_length)
            if result is not None:
                coerced[name] = result
    return coerced


def _attribute_key(key: str) -> str | None:
    return None if not key or key == UNPRINTABLE else truncate(key, MAX_KEY_LENGTH)


def attribute_key(key: object) -> str | None:
    """``key`` as an attribute name: cut to 255 characters and encodable; None if no str."""
    if not isinstance(key, str):
        return None
    return _attribute_key(key if type(key) is str else str.__str__(key))


_NO_TEXT: str | None = None


@contained(_NO_TEXT)
def text_argument(value: object, max_length: int = MAX_ATTRIBUTE_LENGTH) -> str | None:
    """A name given to a tracker (route, table, model...) as text; None stays None.

    Trackers are built at decoration time, from whatever the application passes: bytes
    are decoded, other objects become their ``str()`` (``<unprintable>`` when that
    fails), and the text is cut to ``max_length`` and made encodable. Never raises.
    """
    if value is None:
        return None
    primitive = _primitive(value, max_length)
    text = primitive if type(primitive) is str else safe_str(value)
    return truncate(text, max_length)


@contained(OTHER)
def low_cardinality_label(value: object, max_length: int = 128) -> str:
    """A short string for a metric attribute (route, model, cache name); never raises."""
    if value is None:
        return ""
    primitive = _primitive(value, max_length)
    text = primitive if type(primitive) is str else safe_str(value)
    return OTHER if text == UNPRINTABLE else truncate(text, max_length)
