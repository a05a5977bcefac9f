"""uvicorn's HTTP/1.1 protocol on in-memory connections: a server without sockets.

The requests go through uvicorn's own connection code (h11 parser, request cycle, task
per request, keep-alive timer) exactly as under ``uvicorn``, but the bytes come from
and go to memory, on one thread and one event loop, so the same load runs the same way
every time: what the collector does during it can be counted, not sampled. Each
connection sends its next request once the previous response is complete, like the load
generator's keep-alive connections, after a pause of zero to three turns of the event
loop drawn from a seeded generator: without it, the connections keep in step, and the
count of collections swings with their number by a third.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

REQUEST = b"GET /items/42 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"


class MemoryTransport(asyncio.Transport):
    """A connection's socket: the server writes into nothing, the peer has a fixed port."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"peername": ("127.0.0.1", self._port), "sockname": ("127.0.0.1", 8000)}
        return addresses.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        return None

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def serve(app: Any, connections: int, requests: int, seed: int = 0) -> None:
    """``requests`` requests in all, over ``connections`` keep-alive connections."""
    config = Config(app=app, lifespan="off", access_log=False, log_config=None)
    state = ServerState()
    per_connection = max(1, requests // connections)
    pauses = random.Random(seed)
    await asyncio.gather(
        *(_connection(config, state, index, per_connection, pauses) for index in range(connections))
    )
    while state.tasks:  # the last requests' tasks end after their responses
        await asyncio.sleep(0)


async def _connection(
    config: Config, state: ServerState, index: int, requests: int, pauses: random.Random
) -> None:
    protocol = H11Protocol(config, state, {}, asyncio.get_running_loop())
    protocol.connection_made(MemoryTransport(50_000 + index))
    for _ in range(requests):
        protocol.data_received(REQUEST)
        while protocol.cycle is None or not protocol.cycle.response_complete:
            await asyncio.sleep(0)
        for _ in range(1 + pauses.randrange(4)):  # the response travels, the client thinks
            await asyncio.sleep(0)
    protocol.connection_lost(None)
