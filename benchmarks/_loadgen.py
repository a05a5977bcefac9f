"""A bounded HTTP/1.1 load generator that records the latency of every request.

Each connection is kept alive and has one request in flight at a time (closed loop):
send, read the whole response, record the time, send the next, until the deadline.
Every latency is kept, so percentiles are true ones, not estimates; wrk's correction
for stalls, which fills the tail with synthetic samples, is deliberately absent.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns


@dataclass
class Load:
    """What one run of the generator saw."""

    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ns) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ns) / 1e6 if self.latencies_ns else float("nan")


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending ``request`` until ``deadline_ns``."""

    def __init__(self, request: bytes, deadline_ns: int, load: Load) -> None:
        self.request = request
        self.deadline_ns = deadline_ns
        self.load = load
        self.buffer = b""
        self.expected: int | None = None
        self.sent_at = 0
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        self.sent_at = perf_counter_ns()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._response_complete():
            now = perf_counter_ns()
            self.load.latencies_ns.append(now - self.sent_at)
            if now >= self.deadline_ns:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()

    def _response_complete(self) -> bool:
        if self.expected is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            head = self.buffer[:end]
            if not head.startswith(b"HTTP/1.1 200"):
                self.load.errors += 1
            self.expected = end + 4 + _content_length(head)
        if len(self.buffer) < self.expected:
            return False
        self.buffer = self.buffer[self.expected :]
        self.expected = None
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def _run(host: str, port: int, path: str, connections: int, seconds: float) -> Load:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    load = Load()
    started = perf_counter()
    deadline = perf_counter_ns() + int(seconds * 1e9)
    opened = [
        await loop.create_connection(lambda: _Connection(request, deadline, load), host, port)
        for _ in range(connections)
    ]
    try:  # a server that stops answering must not hang the benchmark
        await asyncio.wait_for(asyncio.gather(*(p.closed for _, p in opened)), seconds + 10)
    except TimeoutError:
        load.errors += connections
        for transport, _ in opened:
            transport.close()
    load.seconds = perf_counter() - started
    return load


def generate(host: str, port: int, path: str, connections: int, seconds: float) -> Load:
    """Keep ``connections`` connections busy for ``seconds``; return every latency."""
    return asyncio.run(_run(host, port, path, connections, seconds))
