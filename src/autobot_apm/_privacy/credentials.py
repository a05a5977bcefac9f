"""Which names carry credentials: one pattern for header names and query keys alike.

A name is read case-insensitively and percent-decoded; it is a credential when it says
so (token, secret, password, session, signature, credential, auth, API key, JWT,
assertion, DPoP, certificate, bearer, one-time password...) or is one of the short
names that mean a credential only on their own (``sig``, ``key``, ``code``, ``otp``).
The values of such names never reach telemetry: queries show ``REDACTED``, headers
``[REDACTED]``.

    >>> [is_credential_name(name) for name in ("X-Amz-Signature", "sig", "Author", "page")]
    [True, True, False, False]
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

# The semconv url.query keys: the union of semconv v1.44, semconv main and
# opentelemetry-util-http (SEMCONV.md, 1). The pattern below matches all of them,
# in any case.
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

# Read inside any name: `x-session-token`, `accessToken`, `X-Forwarded-Client-Cert`.
_PARTS = (
    r"auth(?!or(?!i[sz]))|token|secret|passw|pwd|passphrase|credential|cookie|session|signature"
    r"|api[-_.]?key|access[-_.]?key|private[-_.]?key|jwt|assertion|dpop|bearer|cert"
    r"|csrf|xsrf|saml|nonce|totp|hotp|2fa|mfa|otp[-_.]?code"
)
# Short words that name a credential only as a whole word between separators (`x-otp`,
# `sig`, but not `footprint`); `key` only at the end (`x-functions-key`, not
# `keyword`) and `code` (OAuth's authorization code) only as the whole name.
_WORDS = r"sig|otp|pin|sid|ticket|pass"
# Matched against lower-cased names: a case-blind pattern would cost several times more.
CREDENTIAL_NAME: Final = re.compile(
    rf"{_PARTS}|(?:^|[-_. ])(?:{_WORDS})(?=$|[-_. ])|(?:^|[-_. ])key$|^code$"
)
# Every name CREDENTIAL_NAME matches holds one of these words: text holding none of
# them needs no splitting into names (the common query string). A few substring
# searches in C on lower-cased text cost less than one case-blind regex pass.
_HINTS: Final = (
    "auth", "token", "secret", "pass", "pwd", "credential", "cookie", "session", "sig",
    "key", "jwt", "assertion", "dpop", "bearer", "cert", "csrf", "xsrf", "saml", "nonce",
    "2fa", "mfa", "otp", "pin", "sid", "ticket", "code",
)  # fmt: skip
# Names are read no further: no header or parameter name is legitimately longer.
MAX_NAME_LENGTH: Final = 256


def is_credential_name(name: str) -> bool:
    """Whether a header name or query key names a credential (any case, %-escapes read).

    A name longer than :data:`MAX_NAME_LENGTH` counts as one: it is not worth reading.
    """
    if len(name) > MAX_NAME_LENGTH:
        return True
    if "%" in name:
        name = unquote(name)
    return CREDENTIAL_NAME.search(name.lower()) is not None


def may_hold_credential_names(text: str) -> bool:
    """False when no name in ``text`` (a whole query, unescaped) can be a credential."""
    lowered = text.lower()
    return any(hint in lowered for hint in _HINTS)
