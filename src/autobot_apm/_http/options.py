"""What APMMiddleware does for each request, decided once per configured runtime.

An application object is usually built at import time, before ``apm.configure()`` runs,
so the middleware cannot read the settings in its constructor. It keeps the arguments it
was given and resolves them here, against the live runtime's settings, the first time a
request arrives after each ``configure()``: per request only a cached object is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import propagate
from opentelemetry.trace import Tracer

from .._privacy.headers import HeaderCapture
from .._sdk.parsers.values import parse_url_list
from .._tracking.errors import report_internal_error
from .._tracking.runtime import Runtime
from ..api import method_attributes

# Probes and scrapes: frequent, uninteresting, and they would drown real traffic in
# both traces and metrics. Searched (re.search) in ``scheme://host/path``, like the
# OTEL_PYTHON_EXCLUDED_URLS patterns of opentelemetry-python-contrib.
DEFAULT_EXCLUDED_URLS: Final = (
    r"/(?:health|healthz|ready|readyz|live|livez)/?$",
    r"/metrics/?$",
    r"/favicon\.ico$",
)

# Headers read on every request besides the propagation fields: the URL's authority,
# the user agent and the original client behind proxies.
_ALWAYS_READ: Final = ("host", "user-agent", "forwarded", "x-forwarded-for")

OPTION_NAMES: Final = (
    "excluded_urls",
    "capture_request_headers",
    "capture_response_headers",
    "sanitize_header_fields",
    "server_timing",
)


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """Everything a request needs, built once per runtime and middleware."""

    runtime: Runtime
    tracer: Tracer
    excluded: re.Pattern[str] | None
    read_headers: Mapping[bytes, str]
    propagation_fields: frozenset[str]
    request_headers: HeaderCapture
    response_headers: HeaderCapture
    server_timing: bool
    _methods: dict[str, dict[str, str]] = field(default_factory=dict)

    def method_attributes(self, method: str) -> dict[str, str]:
        """``http.request.method`` (and its original when unknown), cached per method.

        Only known methods are cached: the others are chosen by clients, without bound.
        """
        attributes = self._methods.get(method)
        if attributes is None:
            attributes = method_attributes(method)
            if len(self._methods) < 32 and "http.request.method_original" not in attributes:
                self._methods[method] = attributes
        return attributes

    def is_excluded(self, url: str) -> bool:
        """Whether a request for ``url`` (``scheme://host/path``) is left untracked."""
        return self.excluded is not None and self.excluded.search(url) is not None

    @property
    def hooks_response(self) -> bool:
        """Whether anything has to be done when the response starts (beyond its status)."""
        return self.server_timing or self.response_headers.enabled


def build_options(runtime: Runtime, overrides: Mapping[str, Any]) -> RequestOptions:
    """Options from the middleware's arguments, falling back to the runtime's settings."""
    settings = {name: _setting(runtime, overrides, name) for name in OPTION_NAMES}
    sanitize = tuple(settings["sanitize_header_fields"] or ())
    fields = _propagation_fields()
    return RequestOptions(
        runtime=runtime,
        tracer=runtime.tracer,
        excluded=compile_exclusions(settings["excluded_urls"]),
        read_headers={name.encode("latin-1"): name for name in (*fields, *_ALWAYS_READ)},
        propagation_fields=frozenset(fields),
        request_headers=HeaderCapture(settings["capture_request_headers"] or (), sanitize),
        response_headers=HeaderCapture(settings["capture_response_headers"] or (), sanitize),
        server_timing=bool(settings["server_timing"]),
    )


def _setting(runtime: Runtime, overrides: Mapping[str, Any], name: str) -> Any:
    if overrides.get(name) is not None:
        return overrides[name]
    return getattr(runtime.settings, name, None)


def normalize_overrides(**arguments: Any) -> dict[str, Any]:
    """The middleware's keyword arguments in the settings' own form (None = not given)."""
    normalized: dict[str, Any] = {}
    for name, value in arguments.items():
        if value is None:
            continue
        normalized[name] = bool(value) if name == "server_timing" else parse_url_list(name, value)
    return normalized


def compile_exclusions(patterns: Iterable[str] | None) -> re.Pattern[str] | None:
    """One regex for all patterns; None (not given) means the default list, () nothing."""
    chosen = DEFAULT_EXCLUDED_URLS if patterns is None else tuple(patterns)
    alternatives = [_alternative(pattern) for pattern in chosen if pattern]
    return re.compile("|".join(alternatives)) if alternatives else None


def _alternative(pattern: str) -> str:
    # A pattern that is no valid regular expression is meant literally, as header names
    # are in HeaderCapture: a typo must not take the application down at its first request.
    try:
        re.compile(pattern)
    except re.error:
        return f"(?:{re.escape(pattern)})"
    return f"(?:{pattern})"


def _propagation_fields() -> tuple[str, ...]:
    """Header names the configured propagators read (traceparent, tracestate, baggage)."""
    try:
        return tuple(sorted(field.lower() for field in propagate.get_global_textmap().fields))
    except Exception as exc:  # a third-party propagator; the W3C fields are the standard
        report_internal_error("asgi propagation fields", exc)
        return ("baggage", "traceparent", "tracestate")
