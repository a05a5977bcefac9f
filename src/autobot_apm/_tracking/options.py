"""The keywords every tracker shares, read by one rule.

* ``attributes=``: a mapping of span attributes, any key, never a metric label;
* ``metric_attributes=``: low-cardinality labels for the tracker's metrics, also set on
  the span; only strings, booleans, integers and enums label a metric (an enum by its
  ``value``), other values stay on the span;
* any keyword whose name has a dot (``**{"myapp.tier": "gold"}``) is a span attribute
  under that name;
* an undotted keyword the tracker does not know is a ``TypeError`` when the tracker is
  made, naming the tracker's keywords and the closest one.

Values are coerced later, with the tracker's own attributes, by the one coercion layer
(:mod:`.attributes`); the tracker's own attributes win over these on a clash.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice

from .attributes import attribute_key, integer_argument, low_cardinality_label
from .dispatch import is_decoration_target

__all__ = [
    "NO_EXTRAS",
    "SHARED_KEYWORDS",
    "ExtraAttributes",
    "MetricValue",
    "extra_attributes",
    "is_bare",
    "unknown_keyword",
]

MetricValue = str | bool | int | enum.Enum

SHARED_KEYWORDS = ("attributes", "metric_attributes")
_MAX_PAIRS = 128  # a tracker's extra attributes; the SDK keeps 128 per span by default


@dataclass(frozen=True, slots=True)
class ExtraAttributes:
    """What the shared keywords add: span attributes (raw values) and metric labels."""

    span: dict[str, object] = field(default_factory=dict)
    metric: dict[str, str | bool | int] = field(default_factory=dict)


NO_EXTRAS = ExtraAttributes()


def extra_attributes(
    tracker: str,
    known: Iterable[str],
    keywords: Mapping[str, object],
    *,
    attributes: object = None,
    metric_attributes: object = None,
    undotted_allowed: bool = False,
) -> ExtraAttributes:
    """The span attributes and metric labels of the shared keywords of ``tracker``.

    ``keywords`` are the extra keyword arguments the tracker received; ``known`` its own
    keyword names, for the error message. ``undotted_allowed`` lets undotted names
    through as span attributes (track_operation's own extension).
    """
    if not keywords and attributes is None and metric_attributes is None:
        return NO_EXTRAS  # the usual case, on every ``with`` that builds a tracker
    if not undotted_allowed:
        for name in keywords:
            if "." not in name:
                raise TypeError(unknown_keyword(tracker, name, known))
    labels = _pairs(metric_attributes)  # read once: a user mapping may change
    span = {**_keyed(_pairs(attributes)), **_keyed(list(keywords.items())), **_keyed(labels)}
    return ExtraAttributes(span, _metric_labels(labels))


def is_bare(first: object, *others: object) -> bool:
    """Whether a tracker was applied bare (``@track_x``): its first argument is what to
    decorate, and no other positional argument came with it."""
    return is_decoration_target(first) and all(other is None for other in others)


def unknown_keyword(tracker: str, name: str, known: Iterable[str]) -> str:
    """The message of the TypeError for an unknown keyword ``name`` given to ``tracker``."""
    names = sorted({*known, *SHARED_KEYWORDS})
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{tracker}() got an unexpected keyword argument {name!r}{hint}; its keywords are "
        f"{', '.join(names)}. Any other span attribute takes a dotted name, "
        f"**{{'myapp.{name}': ...}}, or goes in attributes={{...}}"
    )


def _pairs(mapping: object) -> list[tuple[object, object]]:
    """The first items of a mapping, as plain pairs; none when it is not a mapping or
    fails to iterate (a name given by mistake must not break the application)."""
    if not isinstance(mapping, Mapping):
        return []
    try:
        return [(key, value) for key, value in islice(mapping.items(), _MAX_PAIRS)]
    except Exception:  # a user mapping whose items() or iteration raises
        return []


def _keyed(pairs: list[tuple[object, object]]) -> dict[str, object]:
    """The pairs whose key is text, for the span (values are coerced there)."""
    keyed: dict[str, object] = {}
    for key, value in pairs:
        name = attribute_key(key)
        if name is not None:
            keyed[name] = value
    return keyed


def _metric_labels(pairs: list[tuple[object, object]]) -> dict[str, str | bool | int]:
    """Keep values that make bounded label sets: strings, booleans, integers, enums.

    Keys that are not text, and values of other types, are dropped; strings become
    short labels and integers plain 64-bit ints.
    """
    labels: dict[str, str | bool | int] = {}
    for key, value in pairs:
        name, label = attribute_key(key), _metric_label(value)
        if name is not None and label is not None:
            labels[name] = label
    return labels


def _metric_label(value: object) -> str | bool | int | None:
    if isinstance(value, enum.Enum):
        try:
            value = value.value
        except Exception:
            return None
    if type(value) is bool:
        return value
    if isinstance(value, int):
        return integer_argument(value)
    return low_cardinality_label(value) if isinstance(value, str) else None
