"""Keep secrets out of telemetry: URL credentials, signed query strings, HTTP headers.

Rules follow the HTTP semantic conventions: credentials in a URL become
``REDACTED:REDACTED@``, values of signature and credential query parameters become
``REDACTED`` (keys matched ignoring case, key and order kept; the fragment's
``key=value`` pairs too), headers are recorded only from an allow-list, values of
credential headers never, and URL headers (``Location``) redacted as URLs. Every
function reads at most :data:`SCAN_LIMIT` characters, each once.

    >>> redact_url("https://bob:hunter2@example.com/file?X-Amz-Signature=abc&page=2")
    'https://REDACTED:REDACTED@example.com/file?X-Amz-Signature=REDACTED&page=2'
"""

from __future__ import annotations

import re
from typing import Final

from .._tracking.attributes import safe_str
from .._tracking.errors import contained
from .credentials import SENSITIVE_QUERY_KEYS, is_credential_name, may_hold_credential_names
from .query_text import SCAN_LIMIT

__all__ = [
    "CREDENTIAL_QUERY_KEYS",
    "REDACTED",
    "SENSITIVE_QUERY_KEYS",
    "redact_query",
    "redact_url",
]

REDACTED: Final = "REDACTED"

# Query keys that carry credentials in practice besides the semconv signature keys: OAuth
# bearer tokens (RFC 6750, 2.3) and codes, API keys, passwords. CREDENTIAL_NAME matches
# every one of them, in any case.
CREDENTIAL_QUERY_KEYS: Final = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "code",
        "api_key",
        "apikey",
        "api-key",
        "key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "session",
        "otp",
    }
)
# `&` and `;` both separate parameters (HTML 4 allowed `;`, many servers still split on
# it); a `?` inside a query or fragment (`#/route?token=abc`) starts one too.
_SEPARATORS = re.compile(r"([&;?])")

# --- query strings and URLs ----------------------------------------------------------------


def redact_query(query: str) -> str:
    """Replace the values of credential keys with ``REDACTED``; everything else is kept.

    ``"sig=abc&page=2"`` gives ``"sig=REDACTED&page=2"``. Keys are matched ignoring case
    (:func:`is_credential_name`); ``&``, ``;`` and ``?`` all separate parameters. Nothing is
    decoded or re-encoded, so the rest of the query reads exactly as it was sent. Text
    past :data:`SCAN_LIMIT` is dropped before anything reads it.
    """
    if not isinstance(query, str):
        return ""
    query = query[:SCAN_LIMIT]
    if "=" not in query or ("%" not in query and not may_hold_credential_names(query)):
        return query  # the common case: no value, or no name that could be a credential
    return "".join(_redact_parameter(part) for part in _SEPARATORS.split(query))


def _redact_parameter(part: str) -> str:
    key, equals, _ = part.partition("=")
    if equals and is_credential_name(key):
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
    part of ``mailto:bob@example.com`` is redacted too. The fragment keeps its anchor,
    but its ``key=value`` pairs are redacted like the query's (OAuth's implicit flow
    returns ``#access_token=...``). A URL longer than :data:`SCAN_LIMIT` is cut there
    before anything reads it.
    """
    text = url if isinstance(url, str) else safe_str(url, "")
    cut = len(text) > SCAN_LIMIT
    text = text[:SCAN_LIMIT]
    if "@" in text or cut:
        text = _redact_userinfo(text, cut)
    head, hash_mark, fragment = text.partition("#")
    question = head.find("?")
    if question >= 0:
        head = head[: question + 1] + redact_query(head[question + 1 :])
    return head + hash_mark + redact_query(fragment)


def _redact_userinfo(text: str, cut: bool) -> str:
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
    if at < 0 and cut and (end == len(text) or _is_malformed(text[start:end])):
        return f"{text[:start]}{REDACTED}"  # its `@` may lie past the cut: keep nothing
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
