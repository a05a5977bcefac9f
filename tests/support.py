"""Small helpers shared by tests (on the import path through pytest's `pythonpath`)."""

import socket
import time
import urllib.request
from collections.abc import Callable

from opentelemetry.metrics import MeterProvider

from autobot_apm._demo.cluster import Cluster
from autobot_apm._serve.assembly import TraceAssembler
from autobot_apm.sampler import Sampler, _instruments


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bound once by the OS, then released).

    ``host`` may be an IPv6 address such as ``"::1"``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dead_endpoint() -> str:
    """A loopback collector URL where nothing listens: every export is refused."""
    return f"http://127.0.0.1:{free_port()}"


def scrape(address: object) -> str:
    """The text a Prometheus endpoint at ``host:port`` serves."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, what: str = "the condition"
) -> None:
    """Return as soon as ``predicate()`` is true; AssertionError after ``timeout`` seconds.

    The timeout only keeps a broken test from hanging: it is generous on purpose, and no
    test should assert that something happened within some time.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} was not met within {timeout} s")
        time.sleep(0.01)


# Looks into the package's private state for tests; the package itself never needs these.


def active_sampler(provider: MeterProvider) -> Sampler | None:
    """The sampler feeding ``provider`` (None when none was started on it, or it stopped)."""
    hub = _instruments._hubs.get(provider)
    return None if hub is None or hub.sampler is None or hub.sampler.stopped else hub.sampler


def cluster_pids(cluster: Cluster) -> list[int]:
    """The process ids of a demo cluster's services."""
    return [child.process.pid for child in cluster.children]


def pending_traces(assembler: TraceAssembler) -> int:
    """How many traces ``autobot-apm serve`` still waits on."""
    return len(assembler._pending)
