"""Prometheus pull export: a metric reader that Prometheus scrapes over HTTP.

``configure(prometheus="127.0.0.1:9464")`` (or ``AUTOBOT_APM_PROMETHEUS``) adds one
``PrometheusMetricReader`` to the meter provider and serves its metrics at
``http://127.0.0.1:9464/metrics``. The reader comes from the optional extra
``autobot-apm[prometheus]``, imported only when the setting is on.

Design choices:

* loopback unless told otherwise: a port alone (``9464``) listens on ``127.0.0.1``; an
  application exposes its metrics to the network only when the host is written out;
* a private registry per reader, so the endpoint serves this library's metrics only and
  a second ``configure()`` after ``shutdown()`` starts clean;
* the HTTP server belongs to the reader: shutting down the meter provider (which
  ``shutdown()`` and the exit hook do) also stops the server and frees the port;
* a port already taken is an environment problem, not a malformed setting: it is logged
  and the application runs on without the endpoint.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, NamedTuple

from .._tracking.errors import ConfigurationError

if TYPE_CHECKING:  # the settings table imports this module: keep its imports light
    from opentelemetry.sdk.metrics.export import MetricReader

DEFAULT_HOST = "127.0.0.1"
# The port registered for the OpenTelemetry Prometheus exporter.
DEFAULT_PORT = 9464
EXTRA_HINT = "install the optional extra: pip install 'autobot-apm[prometheus]'"
_EXPORTER_MODULE = "opentelemetry.exporter.prometheus"
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
    if address is not None and importlib.util.find_spec(_EXPORTER_MODULE) is None:
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


def prometheus_reader(address: ListenAddress) -> MetricReader | None:
    """A reader serving its metrics at ``http://{address}/metrics``, or None (see
    :func:`.prometheus_server.serving_reader`)."""
    # Imported here, not above: the HTTP server modules (wsgiref, http.server, email)
    # cost ~35 ms, and every ``import autobot_apm`` loads this module through the
    # settings table, while few applications turn the endpoint on.
    from .prometheus_server import serving_reader

    return serving_reader(address)
