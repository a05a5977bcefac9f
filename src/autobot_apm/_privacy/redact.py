"""Keep secrets out of telemetry: URL credentials, signed query strings, HTTP headers.

Rules follow the HTTP semantic conventions: credentials in a URL become
``REDACTED:REDACTED@``, values of signature and credential query parameters become
``REDACTED`` (case-sensitive keys, key and order kept), headers are recorded only
from an allow-list, and values of credential headers never.

    >>> redact_url("https://bob:hunter2@example.com/file?X-Amz-Signature=abc&page=2")
    'https://REDACTED:REDACTED@example.com/file?X-Amz-Signature=REDACTED&page=2'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Final
from urllib.parse import unquote

from .._tracking.errors import contained

REDACTED: Final = "REDACTED"
REDACTED_HEADER_VALUE: Final = "[REDACTED]"

# The union of semconv v1.44, semconv main and opentelemetry-util-http (SEMCONV.md, 1).
SENSITIVE_QUERY_KEYS: Final = frozenset(
    {
        "AWSAccessKeyId",
        "Signature",
        "sig",
        "X-Goog-Signature",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
    }
)

# Headers whose values are credentials. An allow-list that matches them (even `.*`)
# records `[REDACTED]`: the header's presence helps to debug a 401, its value never.
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
    }
)

# Query keys that carry credentials in practice besides the semconv signature keys: OAuth
# bearer tokens (RFC 6750, 2.3), API keys, passwords. Matched ignoring case.
CREDENTIAL_QUERY_KEYS: Final = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "api_key",
        "apikey",
        "api-key",
        "key",
        "password",
        "passwd",
        "secret",
        "client_secret",
    }
)
# A header whose name says it carries a credential is redacted whatever the allow-list.
_CREDENTIAL_HEADER_NAME = re.compile(
    r"auth(?!ority)|token|secret|passw|api[-_]?key|credential|cookie|session|signature"
)

# --- query strings and URLs ----------------------------------------------------------------


def redact_query(query: str) -> str:
    """Replace the values of :data:`SENSITIVE_QUERY_KEYS`; everything else is kept as is.

    ``"sig=abc&page=2"`` gives ``"sig=REDACTED&page=2"``. Nothing is decoded or
    re-encoded, so the rest of the query reads exactly as it was sent.
    """
    if not isinstance(query, str):
        return ""
    lowered = query.lower()
    if (
        "%" not in query
        and not any(key in query for key in SENSITIVE_QUERY_KEYS)
        and not any(key in lowered for key in CREDENTIAL_QUERY_KEYS)
    ):
        return query  # the common case: no sensitive key can be in there
    return "&".join(_redact_parameter(part) for part in query.split("&"))


def _redact_parameter(part: str) -> str:
    key, equals, _ = part.partition("=")
    name = unquote(key.lstrip("?"))
    if equals and (name in SENSITIVE_QUERY_KEYS or name.lower() in CREDENTIAL_QUERY_KEYS):
        return f"{key}={REDACTED}"
    return part


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_AUTHORITY_END = re.compile(r"[/?#\\]")


@contained("")
def redact_url(url: str) -> str:
    """``url`` with its credentials and sensitive query values replaced by ``REDACTED``.

    Malformed URLs never raise. When the authority is malformed in a way that suggests
    an unencoded password (``https://bob:pa/ss@host``), everything up to the last ``@``
    is redacted. Text without ``//`` is read as ``user:pass@host/path``, so the user
    part of ``mailto:bob@example.com`` is redacted too.
    """
    text = url if isinstance(url, str) else _text(url)
    if "@" in text:
        text = _redact_userinfo(text)
    end = len(text) if (fragment := text.find("#")) < 0 else fragment
    question = text.find("?", 0, end)
    if question < 0:
        return text
    return text[: question + 1] + redact_query(text[question + 1 : end]) + text[end:]


def _redact_userinfo(text: str) -> str:
    scheme = _SCHEME.match(text)
    start = scheme.end() if scheme else 0
    if not text.startswith("//", start):
        # No authority marker: `user:pass@host/path`. Whatever precedes the `@` of the
        # first segment may be a credential.
        start = 0
    else:
        start += 2
    end_match = _AUTHORITY_END.search(text, start)
    end = end_match.start() if end_match else len(text)
    at = text.rfind("@", start, end)
    if at < 0 and _is_malformed(text[start:end]):
        at = text.rfind("@", start)  # the password holds `/`, `?` or `#`, unencoded
    if at < 0:
        return text
    return f"{text[:start]}{REDACTED}:{REDACTED}{text[at:]}"


def _is_malformed(authority: str) -> bool:
    """A host with a stray ``:`` or a port that is no number: a raw password, likely."""
    if authority.startswith("["):  # an IPv6 literal: [2001:db8::1]:8080
        host_end = authority.find("]")
        after = authority[host_end + 1 :] if host_end >= 0 else "?"
        if after[:1] not in ("", ":"):
            return True
        port = after[1:]
    else:
        host, colon, port = authority.rpartition(":")
        if not colon:
            return False
        if ":" in host:
            return True
    return bool(port) and not (port.isascii() and port.isdigit())


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:
        return ""


# --- headers -------------------------------------------------------------------------------

_ENTRY_CACHE_SIZE = 1024  # header names come from clients: the cache must stay bounded
_KEEP, _REDACT, _SKIP = "keep", "redact", "skip"
_NO_HEADERS: dict[str, tuple[str, ...]] = {}


class HeaderCapture:
    """Which HTTP headers become span attributes, decided once per header name.

    ``capture`` and ``sanitize`` are header names or regular expressions (a list, or
    one comma-separated string as in ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``),
    matched case-insensitively against the whole name. Values of headers matching
    ``sanitize``, and of :data:`ALWAYS_REDACTED_HEADERS`, are recorded as ``[REDACTED]``.

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
            if decision is not _SKIP:
                value = _latin1(raw_value) if decision is _KEEP else REDACTED_HEADER_VALUE
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
        if not any(pattern.fullmatch(name) for pattern in self._capture):
            return _SKIP
        if name in ALWAYS_REDACTED_HEADERS or _CREDENTIAL_HEADER_NAME.search(name):
            return _REDACT
        if any(pattern.fullmatch(name) for pattern in self._sanitize):
            return _REDACT
        return _KEEP


def _compile_patterns(patterns: str | Iterable[str]) -> tuple[re.Pattern[str], ...]:
    items = patterns.split(",") if isinstance(patterns, str) else patterns
    return tuple(_compile(item.strip()) for item in items if item and item.strip())


def _compile(pattern: str) -> re.Pattern[str]:
    """A pattern that is no valid regular expression is taken as a plain header name."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


def header_pairs(headers: object) -> Iterator[tuple[str, str]]:
    """(lowercase name, value) pairs from ASGI raw headers or any mapping of headers."""
    for name, value in _raw_pairs(headers):
        yield _latin1(name).lower(), _latin1(value)


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
    return _text(value)


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
