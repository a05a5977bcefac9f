"""Small helpers shared by tests (on the import path through pytest's `pythonpath`)."""

import socket
import urllib.request


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bound once by the OS, then released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dead_endpoint() -> str:
    """A loopback collector URL where nothing listens: every export is refused."""
    return f"http://127.0.0.1:{free_port()}"


def scrape(address: object) -> str:
    """The text a Prometheus endpoint at ``host:port`` serves."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        return str(response.read().decode())
