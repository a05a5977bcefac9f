"""Which HTTP headers become span attributes, and the client's address from proxy headers.

Headers are recorded only from an allow-list; the values of headers whose names say
they hold a credential never (``[REDACTED]`` marks that they were sent), and URL
headers such as ``Location`` go through :func:`redact_url`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Final

from .._tracking.attributes import safe_str
from .._tracking.errors import contained
from .credentials import MAX_NAME_LENGTH, is_credential_name
from .redact import redact_url

REDACTED_HEADER_VALUE: Final = "[REDACTED]"

# Headers whose values are credentials. An allow-list that matches them (even `.*`)
# records `[REDACTED]`: the header's presence helps to debug a 401, its value never.
# CREDENTIAL_NAME matches every one of them; the list names them for readers and tests.
ALWAYS_REDACTED_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-refresh-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
        "x-goog-api-key",
        "x-functions-key",
        "ocp-apim-subscription-key",
        "x-vault-token",
        "private-token",
        "x-gitlab-token",
        "dpop",
        "x-jwt-assertion",
        "x-client-cert",
        "x-ssl-client-cert",
        "x-forwarded-client-cert",
        "ssl-client-cert",
        "x-otp",
    }
)
# Headers whose values are URLs: recorded with credentials and sensitive values redacted.
URL_HEADERS: Final = frozenset({"location", "content-location", "referer"})


# --- headers -------------------------------------------------------------------------------

_ENTRY_CACHE_SIZE = 1024  # header names come from clients: the cache must stay bounded
_KEEP, _REDACT, _SKIP, _URL = "keep", "redact", "skip", "url"
_NO_HEADERS: dict[str, tuple[str, ...]] = {}


class HeaderCapture:
    """Which HTTP headers become span attributes, decided once per header name.

    ``capture`` and ``sanitize`` are header names or regular expressions (a list, or
    one comma-separated string as in ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``),
    matched case-insensitively against the whole name. Values of headers matching
    ``sanitize``, and of every header whose name says it holds a credential
    (:func:`is_credential_name`: :data:`ALWAYS_REDACTED_HEADERS` and their kin), are
    recorded as ``[REDACTED]``; URLs in :data:`URL_HEADERS` (``Location``) go through
    :func:`redact_url`. Names longer than 256 characters are never captured.

        capture = HeaderCapture(["content-type", "x-request-.*"])
        capture.attributes(scope["headers"], "http.request.header.")
        # {"http.request.header.content-type": ("application/json",)}
    """

    __slots__ = ("_capture", "_entries", "_sanitize")

    def __init__(
        self, capture: str | Iterable[str] = (), sanitize: str | Iterable[str] = ()
    ) -> None:
        self._capture = _compile_patterns(capture)
        self._sanitize = _compile_patterns(sanitize)
        # Header name as received -> (lowercase name, decision).
        self._entries: dict[object, tuple[str, str]] = {}

    @property
    def enabled(self) -> bool:
        """False when no header is captured: callers may skip the work altogether."""
        return bool(self._capture)

    def attributes(self, headers: object, prefix: str) -> dict[str, tuple[str, ...]]:
        """Span attributes ``{prefix + lowercase name: (value, ...)}`` for allowed headers.

        ``headers`` is an ASGI list of ``(bytes, bytes)`` pairs or a mapping (several
        values of one header are all kept, in order). Never raises.
        """
        if not self._capture:
            return {}  # the default: one attribute check per request, nothing else
        return self._collect(headers, prefix)

    @contained(_NO_HEADERS)
    def _collect(self, headers: object, prefix: str) -> dict[str, tuple[str, ...]]:
        captured: dict[str, list[str]] = {}
        for raw_name, raw_value in _raw_pairs(headers):
            name, decision = self._entry(raw_name)
            if decision is _SKIP:
                continue
            if decision is _KEEP:
                value = _latin1(raw_value)
            elif decision is _URL:
                value = redact_url(_latin1(raw_value))
            else:
                value = REDACTED_HEADER_VALUE
            captured.setdefault(prefix + name, []).append(value)
        return {key: tuple(values) for key, values in captured.items()}

    def _entry(self, raw_name: object) -> tuple[str, str]:
        key = raw_name if type(raw_name) is bytes or type(raw_name) is str else _latin1(raw_name)
        entry = self._entries.get(key)
        if entry is None:
            name = _latin1(key).lower()
            entry = (name, self._decision(name))
            if len(self._entries) < _ENTRY_CACHE_SIZE:
                self._entries[key] = entry
        return entry

    def _decision(self, name: str) -> str:
        if len(name) > MAX_NAME_LENGTH:
            return _SKIP  # read by no pattern: a user's regex need not be linear
        if not any(pattern.fullmatch(name) for pattern in self._capture):
            return _SKIP
        if name in ALWAYS_REDACTED_HEADERS or is_credential_name(name):
            return _REDACT
        if any(pattern.fullmatch(name) for pattern in self._sanitize):
            return _REDACT
        return _URL if name in URL_HEADERS else _KEEP


def _compile_patterns(patterns: str | Iterable[str]) -> tuple[re.Pattern[str], ...]:
    items = patterns.split(",") if isinstance(patterns, str) else patterns
    return tuple(_compile(item.strip()) for item in items if item and item.strip())


def _compile(pattern: str) -> re.Pattern[str]:
    """A pattern that is no valid regular expression is taken as a plain header name."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


def _raw_pairs(headers: object) -> Iterator[tuple[object, object]]:
    """(name, value) pairs as given, undecoded; a list of values gives several pairs."""
    try:
        for pair in headers if type(headers) is list else _items(headers):
            if type(pair) is not tuple or len(pair) != 2:
                continue
            name, values = pair
            if type(values) is list or type(values) is tuple:
                yield from ((name, value) for value in values)
            else:
                yield name, values
    except Exception:
        return  # a broken headers object costs its headers, never the request


def _items(headers: object) -> Iterable[object]:
    # httpx merges repeated headers in items(); multi_items() keeps them apart.
    for method in ("multi_items", "items"):
        getter = getattr(headers, method, None)
        if callable(getter):
            return getter()  # type: ignore[no-any-return]
    return headers if type(headers) is tuple else ()


def _latin1(value: object) -> str:
    # ASGI and HTTP/1.1 header bytes are latin-1: decoding them never fails.
    if type(value) is str:
        return value
    if type(value) is bytes or type(value) is bytearray:
        return value.decode("latin-1")
    return safe_str(value, "")


# --- client address ------------------------------------------------------------------------

_FIRST_ELEMENT = re.compile(r'(?:[^,"]++|"(?:[^"\\]++|\\.)*+"?)*+')
_FOR_PARAMETER = re.compile(r'(?:^|;)\s*for\s*=\s*("(?:[^"\\]++|\\.)*+"|[^;,\s]*)', re.IGNORECASE)
_FORWARDING: dict[str | bytes, str] = {
    spelling: name
    for name in ("forwarded", "x-forwarded-for")
    for spelling in (name, name.encode())
}
_NO_ADDRESS: str | None = None


@contained(_NO_ADDRESS)
def client_address(headers: object) -> str | None:
    """The original client's IP address from ``Forwarded`` (first hop) or ``X-Forwarded-For``.

    ``Forwarded: for="[2001:db8::1]:4711"`` gives ``"2001:db8::1"``. A ``Forwarded``
    header that names its client ``unknown`` or by an obfuscated id (``_hidden``) gives
    None: the proxy chose not to say, and a spoofable ``X-Forwarded-For`` is no better.
    """
    values = _forwarding_values(headers)
    forwarded = values.get("forwarded")
    if forwarded is not None:
        element = _FIRST_ELEMENT.match(forwarded)
        found = _FOR_PARAMETER.search(element.group() if element else "")
        if found is not None:
            return _ip_address(found.group(1))
    forwarded_for = values.get("x-forwarded-for")
    return None if forwarded_for is None else _ip_address(forwarded_for.split(",")[0])


def _forwarding_values(headers: object) -> dict[str, str]:
    """The first value of each forwarding header; other headers are not even decoded."""
    values: dict[str, str] = {}
    for raw_name, raw_value in _raw_pairs(headers):
        if type(raw_name) is bytes or type(raw_name) is str:
            name = _FORWARDING.get(raw_name.lower())  # ASGI names are bytes: no decoding
        else:
            name = _FORWARDING.get(_latin1(raw_name).lower())
        if name is not None and name not in values:
            values[name] = _latin1(raw_value)
    return values


def _ip_address(node: str) -> str | None:
    node = node.strip().strip('"').strip()
    if node.startswith("["):  # "[2001:db8::1]:4711"
        host = node[1:].partition("]")[0]
    elif node.count(":") == 1:  # "192.0.2.43:47011"
        host = node.partition(":")[0]
    else:
        host = node
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None  # `unknown`, `_obfuscated` ids, host names, junk
