"""Serve metrics for Prometheus to scrape, from a service that fails a quarter of its calls.

Needs the optional extra (``pip install 'autobot-apm[prometheus]'``). Run it and look at
what Prometheus would scrape:

    AUTOBOT_APM_PROMETHEUS=127.0.0.1:9464 python examples/prometheus_app.py --seconds 60
    curl http://127.0.0.1:9464/metrics

With the shipped rules loaded, the ``ApiErrorRateHigh`` alert fires for this service
(the end-to-end test in ``tests/ecosystem`` does exactly that with a real Prometheus).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import urllib.request
from dataclasses import dataclass

import autobot_apm as apm

RANDOM = random.Random(8)
CACHE: dict[int, str] = {}


@dataclass
class Response:
    status_code: int
    body: str = ""


@apm.track_cache("products")
def cached_product(product_id: int) -> str | None:
    return CACHE.get(product_id)  # None counts as a miss


@apm.track_database("postgresql", query="SELECT name FROM products WHERE id = %s")
def load_product(product_id: int) -> str:
    time.sleep(0.001)
    return f"product-{product_id}"


@apm.track_api(route="/products/{product_id}", method="GET")
def get_product(product_id: int) -> Response:
    name = cached_product(product_id)
    if name is None:
        name = CACHE[product_id] = load_product(product_id)
    return Response(200, name)


@apm.track_api(route="/checkout", method="POST")
def checkout(failure_rate: float) -> Response:
    # The payment provider fails half the time: each 503 is recorded with
    # error.type="503", which is what the error-rate alert counts.
    return Response(503) if RANDOM.random() < failure_rate else Response(200)


def serve_traffic(seconds: float, failure_rate: float) -> int:
    """Call the endpoints for ``seconds`` (at least one round); returns the calls made."""
    calls, deadline = 0, time.monotonic() + seconds
    while calls == 0 or time.monotonic() < deadline:
        get_product(RANDOM.randrange(20))
        checkout(failure_rate)
        calls += 2
        time.sleep(0.01)
    return calls


def scrape(address: str) -> str:
    """What Prometheus sees: the text exposition format."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="how long to serve")
    parser.add_argument("--failure-rate", type=float, default=0.5, help="of checkouts")
    args = parser.parse_args()
    address = os.environ.get("AUTOBOT_APM_PROMETHEUS", "127.0.0.1:9464")
    # No OTLP exporter here: the metrics are pulled by Prometheus, traces are not kept.
    # The host and process gauges fill the dashboard's host panels.
    apm.configure(
        service_name="backend",
        exporter="none",
        prometheus=address,
        sampler={"host": True, "process": True, "gpu": False, "npu": False},
    )
    # A pool of 10 database connections, 7 of them busy (a real app reads its pool).
    apm.observe_connection_pool("main", used=lambda: 7, idle=lambda: 3, max=lambda: 10)
    calls = serve_traffic(args.seconds, args.failure_rate)
    lines = scrape(address).splitlines()
    print(f"{calls} calls served; http://{address}/metrics shows:")
    print(
        "\n".join(
            line for line in lines if line.startswith("http_server_request_duration_seconds_count")
        )
    )
    apm.shutdown()


if __name__ == "__main__":
    main()
