"""Export headers that can actually be sent: checked at configure(), values never shown.

HTTP header names are tokens (RFC 9110); gRPC metadata keys are the lower-case form of
the same characters (the gRPC exporter lower-cases them). Values must be printable ASCII:
gRPC refuses anything else in ASCII metadata, and a control character (a CR or LF
above all) could split an HTTP request.
"""

from __future__ import annotations

import re
from typing import Any

from .._tracking.errors import ConfigurationError

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def check_headers(name: str, headers: dict[str, str]) -> dict[str, str]:
    """Return ``headers`` unchanged, or raise ConfigurationError naming the bad key only."""
    for key, value in headers.items():
        if not _TOKEN.fullmatch(key):
            raise ConfigurationError(
                name,
                _shown_keys(headers),
                f"header name {key!r} is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)",
            )
        if not _PRINTABLE_ASCII.fullmatch(value):
            raise ConfigurationError(
                name,
                _shown_keys(headers),
                f"the value of header {key!r} holds a control or non-ASCII character",
            )
    return headers


def _shown_keys(headers: dict[str, Any]) -> str:
    """What an error message may show of the headers: their names, never their values."""
    return ",".join(f"{key}=…" for key in headers)
