"""Parsers of addresses and headers: the collector URL, export headers (checked so that
HTTP and gRPC can both carry them), and the Prometheus listen address.

HTTP header names are tokens (RFC 9110); gRPC metadata keys are the lower-case form of
the same characters (the gRPC exporter lower-cases them). Values must be printable ASCII:
gRPC refuses anything else in ASCII metadata, and a control character (a CR or LF
above all) could split an HTTP request.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from ..._tracking.errors import ConfigurationError

EXTRA_HINT = "install the optional extra: pip install 'autobot-apm[prometheus]'"
PROMETHEUS_EXPORTER_MODULE = "opentelemetry.exporter.prometheus"


def parse_endpoint(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(name, value, "expected a URL such as http://127.0.0.1:4317")
    if any(char.isspace() or ord(char) < 0x20 for char in value.strip()):
        raise ConfigurationError(name, value, "a URL cannot contain spaces or control characters")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(name, value, f"malformed URL ({exc})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            name,
            value,
            "expected an http:// or https:// URL with a host, e.g. http://127.0.0.1:4317",
        )
    if port == 0:
        raise ConfigurationError(name, value, "port 0 is not a collector address")
    return value.strip()


def parse_pairs(name: str, value: Any) -> dict[str, str]:
    """``k=v,k2=v2`` (URL-decoded, as the OTel spec defines) or a mapping."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        try:
            return {str(k): str(v) for k, v in value.items()}
        except Exception:
            raise ConfigurationError(name, "…", "expected a mapping of strings") from None
    if not isinstance(value, str):
        raise ConfigurationError(name, value, "expected key=value pairs separated by commas")
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(name, _redact_pairs(value), "expected key=value pairs")
        pairs[unquote(key.strip())] = unquote(val.strip())
    return pairs


def parse_headers(name: str, value: Any) -> dict[str, str]:
    """Export headers: pairs (see parse_pairs) that HTTP and gRPC can both carry."""
    return check_headers(name, parse_pairs(name, value))


def _redact_pairs(value: str) -> str:
    """Header values are secrets (API keys): an error message shows only the keys."""
    return ",".join(part.partition("=")[0] + "=…" for part in value.split(","))


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


DEFAULT_HOST = "127.0.0.1"
# The port registered for the OpenTelemetry Prometheus exporter.
DEFAULT_PORT = 9464
# Words only: "0" and "1" are read as ports, never as switches.
_OFF = frozenset({"", "false", "off", "no", "none"})
_ON = frozenset({"true", "on", "yes"})


class ListenAddress(NamedTuple):
    """Where the metrics endpoint listens."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen_address(name: str, value: Any) -> ListenAddress | None:
    """Parser for the ``prometheus`` setting: off, on, a port, or ``host:port``.

    ``None``/``False``/``"off"`` turn it off; ``True``/``"on"`` mean 127.0.0.1:9464; a
    port alone keeps the loopback host. Also checks that the optional extra is there, so
    that a missing package is reported before configure() builds anything.
    """
    address = _address(name, value)
    if address is not None and importlib.util.find_spec(PROMETHEUS_EXPORTER_MODULE) is None:
        raise ConfigurationError(name, value, f"the Prometheus exporter is missing; {EXTRA_HINT}")
    return address


def _address(name: str, value: Any) -> ListenAddress | None:
    if value is None or value is False:
        return None
    if value is True:
        return ListenAddress(DEFAULT_HOST, DEFAULT_PORT)
    if isinstance(value, int):
        return ListenAddress(DEFAULT_HOST, _port(name, value, value))
    if not isinstance(value, str):
        raise ConfigurationError(name, value, "expected host:port, a port, or true/false")
    text = value.strip()
    if text.lower() in _OFF:
        return None
    if text.lower() in _ON:
        return ListenAddress(DEFAULT_HOST, DEFAULT_PORT)
    host, separator, port = text.rpartition(":")
    if separator and not host:
        raise ConfigurationError(name, value, "expected a host before ':' (e.g. 127.0.0.1:9464)")
    return ListenAddress(_host(name, value, host), _port(name, value, port))


def _host(name: str, value: Any, host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    if ":" in host or "[" in host or "]" in host:
        raise ConfigurationError(name, value, "write an IPv6 address in brackets: [::1]:9464")
    return host or DEFAULT_HOST


def _port(name: str, value: Any, port: object) -> int:
    text = str(port).strip()
    number = int(text) if text.isdigit() else 0
    if not 1 <= number <= 65535:
        raise ConfigurationError(name, value, "expected a port between 1 and 65535")
    return number
