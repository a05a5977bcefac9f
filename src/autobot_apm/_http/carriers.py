"""Read and write trace headers in whatever a transport carries them in.

Carriers come from outside the process and may be anything: a dict of headers, a
case-insensitive header object (httpx, requests, Starlette), a JSON message payload,
the ``[(b"name", b"value"), ...]`` list of an ASGI scope or of Kafka headers. Values
may be ``str``, ``bytes`` or lists of either. Nothing here raises on a strange carrier:
an unreadable value is simply absent, so the caller starts a new trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from itertools import islice
from typing import Any, Final

from opentelemetry.propagators.textmap import Getter, Setter

# The largest valid trace header is an 8192-byte baggage (W3C Baggage). Anything longer
# is hostile or broken: dropping it here keeps the SDK from logging it whole.
MAX_HEADER_LENGTH: Final = 8192
# How many keys a case-insensitive look-up scans; a message payload may be large.
_MAX_KEYS_SCANNED: Final = 256


class CarrierGetter(Getter[Any]):
    """Finds a header by name, case-insensitively, in a mapping or a list of pairs."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        raw = _find(carrier, key)
        values = [text for text in map(_header_text, _as_list(raw)) if text is not None]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        return [text for text in map(_header_text, _all_keys(carrier)) if text is not None]


class CarrierSetter(Setter[Any]):
    """Writes a header into a mutable mapping, or replaces it in a list of pairs."""

    def set(self, carrier: Any, key: str, value: str) -> None:
        if isinstance(carrier, MutableMapping):
            carrier[key] = value
        elif isinstance(carrier, list):
            _set_pair(carrier, key, value)


def _find(carrier: Any, key: str) -> Any:
    if isinstance(carrier, Mapping):
        found = carrier.get(key)
        if found is not None:
            return found
        for name in islice(carrier, _MAX_KEYS_SCANNED):
            if _same_name(name, key):
                return carrier[name]
        return None
    if isinstance(carrier, list | tuple):
        values = [pair[1] for pair in _pairs(carrier) if _same_name(pair[0], key)]
        return values or None
    return None


def _pairs(carrier: Iterable[Any]) -> list[tuple[Any, Any]]:
    items = islice(carrier, _MAX_KEYS_SCANNED)
    return [(item[0], item[1]) for item in items if _is_pair(item)]


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple | list) and len(item) == 2


def _all_keys(carrier: Any) -> list[Any]:
    if isinstance(carrier, Mapping):
        return list(islice(carrier, _MAX_KEYS_SCANNED))
    if isinstance(carrier, list | tuple):
        return [pair[0] for pair in _pairs(carrier)]
    return []


def _same_name(name: Any, key: str) -> bool:
    text = _header_text(name)
    return text is not None and text.lower() == key.lower()


def _as_list(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, list | tuple):
        return list(raw[:8])  # a header repeated more often than this is not a trace header
    return [raw]


def _header_text(value: Any) -> str | None:
    """The value as text, or None when it is not a usable header value."""
    if isinstance(value, bytes | bytearray):
        if len(value) > MAX_HEADER_LENGTH:
            return None
        value = bytes(value).decode("latin-1")  # HTTP header bytes, as ASGI passes them
    if type(value) is not str and isinstance(value, str):
        value = str.__str__(value)  # a str subclass may override what it reports
    if type(value) is not str or len(value) > MAX_HEADER_LENGTH:
        return None
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None  # a lone surrogate: the baggage propagator would raise on it
    return value


def _set_pair(carrier: list[Any], key: str, value: str) -> None:
    """Replace ``key`` in a list of pairs, writing bytes when the list holds bytes."""
    pairs = _pairs(carrier)
    as_bytes = any(isinstance(pair[1], bytes) for pair in pairs)
    carrier[:] = [item for item in carrier if not _is_pair_named(item, key)]
    carrier.append((key, value.encode("utf-8")) if as_bytes else (key, value))


def _is_pair_named(item: Any, key: str) -> bool:
    return _is_pair(item) and _same_name(item[0], key)


GETTER: Final = CarrierGetter()
SETTER: Final = CarrierSetter()
