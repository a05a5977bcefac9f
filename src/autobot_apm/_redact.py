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

from ._errors import contained

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

# --- query strings and URLs ----------------------------------------------------------------


def redact_query(query: str) -> str:
    """Replace the values of :data:`SENSITIVE_QUERY_KEYS`; everything else is kept as is.

    ``"sig=abc&page=2"`` gives ``"sig=REDACTED&page=2"``. Nothing is decoded or
    re-encoded, so the rest of the query reads exactly as it was sent.
    """
    if not isinstance(query, str):
        return ""
    if "%" not in query and not any(key in query for key in SENSITIVE_QUERY_KEYS):
        return query  # the common case: no sensitive key can be in there
    return "&".join(_redact_parameter(part) for part in query.split("&"))


def _redact_parameter(part: str) -> str:
    key, equals, _ = part.partition("=")
    if equals and unquote(key.lstrip("?")) in SENSITIVE_QUERY_KEYS:
        return f"{key}={REDACTED}"
    return part


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_AUTHORITY_END = re.compile(r"[/?#\\]")


@contained("")
def redact_url(url: str) -> str:
    """``url`` with its credentials and sensitive query values replaced by ``REDACTED``.

    Malformed URLs never raise. When the authority is malformed in a way that suggests
    an unencoded password (``https://bob:pa/ss@host``), everything up to the last ``@``
    is redacted.
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
    if at < 0 and _has_invalid_port(text[start:end]):
        at = text.rfind("@", start)  # the password holds `/`, `?` or `#`, unencoded
    if at < 0:
        return text
    return f"{text[:start]}{REDACTED}:{REDACTED}{text[at:]}"


def _has_invalid_port(host_and_port: str) -> bool:
    after_host = (
        host_and_port.rpartition("]")[2] if host_and_port.startswith("[") else host_and_port
    )
    _, colon, port = after_host.rpartition(":")
    return bool(colon and port) and not (port.isascii() and port.isdigit())


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:
        return ""


# --- headers -------------------------------------------------------------------------------

HeaderPairs = Iterable[tuple[str | bytes, str | bytes]]
_DECISION_CACHE_SIZE = 1024
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

    __slots__ = ("_capture", "_decisions", "_sanitize")

    def __init__(
        self, capture: str | Iterable[str] = (), sanitize: str | Iterable[str] = ()
    ) -> None:
        self._capture = _compile_patterns(capture)
        self._sanitize = _compile_patterns(sanitize)
        self._decisions: dict[str, str] = {}

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
        for name, value in header_pairs(headers):
            decision = self._decide(name)
            if decision != _SKIP:
                kept = value if decision == _KEEP else REDACTED_HEADER_VALUE
                captured.setdefault(prefix + name, []).append(kept)
        return {key: tuple(values) for key, values in captured.items()}

    def _decide(self, name: str) -> str:
        decision = self._decisions.get(name)
        if decision is None:
            decision = self._decision(name)
            if len(self._decisions) < _DECISION_CACHE_SIZE:  # names come from clients
                self._decisions[name] = decision
        return decision

    def _decision(self, name: str) -> str:
        if not any(pattern.fullmatch(name) for pattern in self._capture):
            return _SKIP
        if name in ALWAYS_REDACTED_HEADERS or any(p.fullmatch(name) for p in self._sanitize):
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
    try:
        for pair in _raw_items(headers):
            if type(pair) is not tuple or len(pair) != 2:
                continue
            name, values = pair
            for value in values if type(values) in (list, tuple) else (values,):
                yield _latin1(name).lower(), _latin1(value)
    except Exception:
        return  # a broken headers object costs its headers, never the request


def _raw_items(headers: object) -> Iterable[object]:
    # httpx merges repeated headers in items(); multi_items() keeps them apart.
    for method in ("multi_items", "items"):
        getter = getattr(headers, method, None)
        if callable(getter):
            return getter()  # type: ignore[no-any-return]
    return headers if isinstance(headers, list | tuple) else ()


def _latin1(value: object) -> str:
    # ASGI and HTTP/1.1 header bytes are latin-1: decoding them never fails.
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else _text(value)


# --- client address ------------------------------------------------------------------------

_FIRST_ELEMENT = re.compile(r'(?:[^,"]++|"(?:[^"\\]++|\\.)*+"?)*+')
_FOR_PARAMETER = re.compile(r'(?:^|;)\s*for\s*=\s*("(?:[^"\\]++|\\.)*+"|[^;,\s]*)', re.IGNORECASE)


_NO_ADDRESS: str | None = None


@contained(_NO_ADDRESS)
def client_address(headers: object) -> str | None:
    """The original client's IP address from ``Forwarded`` (first hop) or ``X-Forwarded-For``.

    ``Forwarded: for="[2001:db8::1]:4711"`` gives ``"2001:db8::1"``. A ``Forwarded``
    header that names its client ``unknown`` or by an obfuscated id (``_hidden``) gives
    None: the proxy chose not to say, and a spoofable ``X-Forwarded-For`` is no better.
    """
    forwarded = _first_value(headers, "forwarded")
    if forwarded is not None:
        element = _FIRST_ELEMENT.match(forwarded)
        found = _FOR_PARAMETER.search(element.group() if element else "")
        if found is not None:
            return _ip_address(found.group(1))
    forwarded_for = _first_value(headers, "x-forwarded-for")
    return None if forwarded_for is None else _ip_address(forwarded_for.split(",")[0])


def _first_value(headers: object, name: str) -> str | None:
    return next((value for key, value in header_pairs(headers) if key == name), None)


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
