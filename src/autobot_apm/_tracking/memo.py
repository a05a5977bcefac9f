"""Trackers built once per distinct plain arguments, for the ``with`` form.

``with apm.track_database("redis", "get"):`` builds its tracker on every pass, and
building one validates, coerces and (for SQL) parses its arguments: 20 to 30 µs, a
tracked call's own cost again. A tracker keeps nothing per call (one tracker object is
already safe to share between threads and tasks), so the one built from the same
arguments serves again. Only arguments of the plain types (``str``, ``int``, ``bool``,
``float``, ``None``; never a subclass, whose ``__hash__`` or ``__eq__`` would be user
code) and of bounded length make a key; anything else builds a tracker as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TypeVar

from .._sdk.state import on_reset

T = TypeVar("T")

CACHE_SIZE = 512  # distinct trackers kept; a miss costs what building always cost
MAX_TEXT_KEY = 4096  # longer texts (a query with values inlined) are not kept
_PLAIN = frozenset({str, int, bool, float, type(None)})


# The values (positional, then the options' by name), their types, the options' names.
Key = tuple[tuple[object, ...], tuple[type, ...], tuple[str, ...]]


def plain_key(*positional: object, options: Mapping[str, object]) -> Key | None:
    """The arguments as a cache key, or None when one of them is not plain and short.

    The key holds each value's type: ``1``, ``1.0`` and ``True`` are equal as keys, and
    would otherwise share a tracker.
    """
    names: tuple[str, ...] = ()
    values = positional
    if options:
        names = tuple(sorted(options))
        values += tuple([options[name] for name in names])
    kinds = tuple(map(type, values))
    if not _PLAIN.issuperset(kinds):
        return None
    for value in values:
        if type(value) is str and len(value) > MAX_TEXT_KEY:
            return None
    return values, kinds, names


def memoized(build: Callable[..., T]) -> Callable[[Key], T]:
    """``build(*positional, **options)`` kept by their key, forgotten by reset()."""

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def built(key: Key) -> T:
        values, _, names = key
        count = len(values) - len(names)
        return build(*values[:count], **dict(zip(names, values[count:], strict=True)))

    on_reset(built.cache_clear)
    return built
