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

import logging
import os
import socket
import threading
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .parsers.network import ListenAddress

if TYPE_CHECKING:  # the exporter's module (an optional extra) is imported only when on
    from opentelemetry.sdk.metrics.export import MetricReader

logger = logging.getLogger("autobot_apm")


class _QuietHandler(WSGIRequestHandler):
    """One log line per scrape would drown the application's own logs."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scraper must not hold up the next one, nor the interpreter's exit.
    daemon_threads = True


class _IPv6ThreadingServer(_ThreadingServer):
    address_family = socket.AF_INET6


def serve(address: ListenAddress, app: Any) -> WSGIServer:
    """Serve the WSGI ``app`` on ``address`` from a daemon thread; OSError if it cannot."""
    # A literal IPv6 address needs an IPv6 socket; host names bind over IPv4.
    server_class = _IPv6ThreadingServer if ":" in address.host else _ThreadingServer
    server = make_server(address.host, address.port, app, server_class, _QuietHandler)
    # The poll interval bounds how long shutdown() waits for the serving thread.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.1,), name="autobot-apm-prometheus", daemon=True
    )
    thread.start()
    return server


def prometheus_reader(address: ListenAddress) -> MetricReader | None:
    """A reader serving its metrics at ``http://{address}/metrics``, or None.

    None (and a warning) when the address cannot be served, e.g. when the port is taken
    by another process: the application must start all the same.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, make_wsgi_app

    class ServingReader(PrometheusMetricReader):
        """The exporter's reader, owning the HTTP server that exposes it."""

        server: WSGIServer | None = None
        pid = 0  # the process that started the server

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            if self.server is not None:
                # A forked child inherits the socket but not the serving thread: waiting
                # for that thread to stop would hang, so the child only closes its copy.
                if os.getpid() == self.pid:
                    self.server.shutdown()
                self.server.server_close()
            super().shutdown(timeout_millis=timeout_millis, **kwargs)

    registry = CollectorRegistry()
    # The reader is made first, so that nothing listens if the exporter cannot be used.
    reader = ServingReader(registry=registry)
    try:
        reader.server, reader.pid = serve(address, make_wsgi_app(registry)), os.getpid()
    except OSError as exc:
        logger.warning(
            "autobot-apm: cannot serve Prometheus metrics on %s (%s); running without "
            "the metrics endpoint",
            address,
            exc,
        )
        return None
    return reader
