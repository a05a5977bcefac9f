"""The CLIENT span of one outgoing HTTP request, whatever library sends it.

The patches in :mod:`.http_client` hand over the library's request object; only its
``method``, ``url`` and ``headers`` are read, which httpx and requests both have.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._privacy.redact import redact_url
from .._tracking import runtime as _runtime
from .._tracking.errors import contained, report_internal_error
from .._tracking.handle import Operation
from .._tracking.runtime import HTTP_DURATION_BUCKETS, MetricSpec
from .._tracking.tracker import Tracker
from ..api import method_attributes, server_span_name

HTTP_CLIENT_DURATION = MetricSpec(
    "http.client.request.duration", "histogram", "s",
    "Duration of HTTP client requests.", HTTP_DURATION_BUCKETS,
)  # fmt: skip

DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# urllib3 (under requests) reports the protocol version as a number.
_NUMBERED_VERSIONS: Final = {9: "0.9", 10: "1.0", 11: "1.1", 20: "2", 30: "3"}
# Set by the SDK's exporters while they send, and by other instrumentations that own
# the request; the names are private to the API, hence the guarded look-up.
_SUPPRESSING_KEYS: Final = tuple(
    getattr(otel_context, name)
    for name in ("_SUPPRESS_INSTRUMENTATION_KEY", "_SUPPRESS_HTTP_INSTRUMENTATION_KEY")
    if hasattr(otel_context, name)
)


class HttpClientOperation(Operation):
    """One outgoing request in progress; ``response(r)`` reports what came back."""

    __slots__ = ("_protocol_version", "_status_code")

    def _on_start(self) -> None:
        self._status_code: int | None = None
        self._protocol_version: str | None = None

    @contained(None)
    def response(self, response: Any) -> None:
        """Read the status code and protocol version of an httpx or requests response."""
        code = getattr(response, "status_code", None)
        if type(code) is int:
            self._status_code = code
        self._protocol_version = _protocol_version(response)

    def _on_end(self, duration: float) -> None:
        code, version = self._status_code, self._protocol_version
        if code is not None:
            self.span.set_attribute("http.response.status_code", code)
            self._set_metric_attribute("http.response.status_code", code)
            if code >= 400 and self._error_type is None:
                self._fail_with_status(str(code))
        if version is not None:
            self.span.set_attribute("network.protocol.version", version)
            self._set_metric_attribute("network.protocol.version", version)
        if self._runtime is not None:
            self._runtime.histogram(HTTP_CLIENT_DURATION).record(duration, self._metric_attributes)

    def _fail_with_status(self, code: str) -> None:
        # The status code says what went wrong: no description (HTTP span conventions).
        self._error_type = code
        self._set_metric_attribute("error.type", code)
        self.span.set_attribute("error.type", code)
        self.span.set_status(Status(StatusCode.ERROR))


class HttpClientTracker(Tracker[HttpClientOperation]):
    """The span of one request: made per request, since its URL is its own."""

    operation_class = HttpClientOperation

    def __init__(self, method: str, url: str) -> None:
        parts = urlsplit(url)
        methods = method_attributes(method)
        server = {
            "server.address": parts.hostname,
            "server.port": parts.port or DEFAULT_PORTS.get(parts.scheme.lower()),
        }
        super().__init__(
            span_name=server_span_name(methods["http.request.method"], None),
            span_kind=SpanKind.CLIENT,
            span_attributes={**methods, **server, "url.full": redact_url(url)},
            metric_attributes={"http.request.method": methods["http.request.method"], **server},
        )


def tracker_for(request: Any) -> HttpClientTracker | None:
    """A tracker for ``request``, or None when this request must go untracked."""
    if (_runtime.current or _runtime.adopt()) is None or _suppressed():
        return None
    try:
        return HttpClientTracker(str(request.method), str(request.url))
    except Exception as exc:
        report_internal_error("http_client.request", exc)
        return None


def _suppressed() -> bool:
    return any(otel_context.get_value(key) for key in _SUPPRESSING_KEYS)


def _protocol_version(response: Any) -> str | None:
    version = getattr(response, "http_version", None)  # httpx: "HTTP/1.1", "HTTP/2"
    if isinstance(version, str) and version.startswith("HTTP/"):
        return version[5:]
    number = getattr(getattr(response, "raw", None), "version", None)  # requests
    return _NUMBERED_VERSIONS.get(number) if type(number) is int else None
