"""User numbers as OTLP can carry them: 64-bit integers and finite floats, or None."""

from __future__ import annotations

import math
import numbers
import operator

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def integer_argument(value: object) -> int | None:
    """An int (not a bool) that fits OTLP's 64 bits, as a plain int; else None."""
    number = metric_number(value, minimum=None)
    return number if type(number) is int else None


def metric_number(
    value: object, *, floats: bool = False, minimum: float | None = 0
) -> int | float | None:
    """``value`` as a number OTLP can carry, or None: the one gate for user numbers.

    Every number that user code hands us for a metric instrument (counter add, histogram
    record, observed gauge) or for a numeric span attribute passes here. Integers (int,
    its subclasses, numpy integers; never bools) come back as a plain ``int`` when they
    fit OTLP's signed 64 bits; floats (and other reals) as a finite ``float``, and only
    when ``floats`` is true. Values below ``minimum`` (None: no bound) are refused too.

    A value that cannot be represented is dropped (None), not clamped: 2**70 items or a
    NaN cost is a bug in the caller, and a clamped 2**63-1 would be recorded as if it
    were a true measurement, while one bad value in the SDK's cumulative state would fail
    every later export. Never raises, whatever ``__index__``, ``__int__``, ``__float__``,
    ``__bool__`` or comparison the object defines.
    """
    try:
        number = _metric_number(value, floats)
        if number is None or (minimum is not None and number < minimum):
            return None
        return number
    except Exception:
        return None


def _metric_number(value: object, floats: bool) -> int | float | None:
    kind = type(value)
    if kind is int:
        number: int | float = value  # type: ignore[assignment]  # exact int, checked below
    elif kind is bool:
        return None
    elif kind is float:
        number = value  # type: ignore[assignment]
    elif issubclass(kind, int):
        number = int.__int__(value)  # type: ignore[arg-type]  # the stored value, no override
    elif issubclass(kind, numbers.Integral):
        number = operator.index(value)  # type: ignore[arg-type]  # numpy integers
    elif floats and issubclass(kind, float):
        number = float.__float__(value)  # type: ignore[arg-type]  # the stored value
    elif floats and issubclass(kind, numbers.Real):
        number = float(value)  # type: ignore[arg-type]
    else:
        return None
    if type(number) is int:
        return number if INT64_MIN <= number <= INT64_MAX else None
    if type(number) is float and floats and math.isfinite(number):
        return number
    return None
