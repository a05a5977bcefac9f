"""One demo service in its own OS process: ``python -m autobot_apm._demo.service NAME``.

The service talks to the demo over its standard streams, which works the same on every
operating system and needs no port agreed in advance:

1. it binds ``127.0.0.1:0`` at once, before the slow imports, and prints ``{"port": N}``;
2. it reads one line, ``{"peers": {name: url}}``, the address of every other service;
3. it configures autobot-apm to export to the demo's receiver, serves its FastAPI app
   with uvicorn on that socket and prints ``{"ready": true}``;
4. it stops when its standard input closes (the demo asks, or the demo died) or on
   SIGTERM, and flushes its telemetry on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

HOST = "127.0.0.1"
# The backend's report query takes about 0.3 s on purpose; this marks it as slow.
SLOW_QUERY_THRESHOLD = 0.2


def announce(**message: Any) -> None:
    """One line of the protocol to the demo, which reads this process's stdout."""
    print(json.dumps(message), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autobot_apm._demo.service")
    parser.add_argument("name")
    parser.add_argument("--endpoint", required=True, help="the demo receiver's OTLP/HTTP URL")
    args = parser.parse_args(argv)
    # A SIGTERM from the demo ends the process through SystemExit, so that the flush
    # registered at exit by configure() still runs (the default action would skip it).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    listener = _listen()
    announce(port=listener.getsockname()[1])
    line = sys.stdin.readline()
    if not line:
        return 0  # the demo went away before the services were introduced
    peers: dict[str, str] = json.loads(line)["peers"]
    _configure(args.name, args.endpoint)
    from .apps import build_app

    asyncio.run(_serve(build_app(args.name, peers), listener))
    import autobot_apm as apm

    apm.shutdown()
    return 0


def _listen() -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket says so, and without it every response with a body waits
    # 40 ms for a delayed ACK (socket.create_server leaves the protocol as 0).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind((HOST, 0))
    listener.listen()
    return listener


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _configure(name: str, endpoint: str) -> None:
    import autobot_apm as apm

    apm.configure(
        service_name=name,
        environment="demo",
        endpoint=endpoint,
        protocol="http/protobuf",
        span_schedule_delay=0.1,  # spans reach the receiver while the demo runs
        # One metric export, at shutdown: the cumulative totals of the whole run.
        metric_export_interval=3600.0,
        slow_query_threshold=SLOW_QUERY_THRESHOLD,
        shutdown_timeout=5.0,
    )
    apm.instrument_http_clients()  # outgoing httpx calls: client spans and traceparent


async def _serve(app: Any, listener: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            await serving  # uvicorn gave up (it logged why); nothing to announce
            raise SystemExit(1)
        await asyncio.sleep(0.02)
    announce(ready=True)
    threading.Thread(target=_stop_at_eof, args=(server,), daemon=True).start()
    await serving


def _stop_at_eof(server: Any) -> None:
    """Closing this process's stdin is the portable way to ask it to stop."""
    sys.stdin.read()
    server.should_exit = True  # uvicorn polls this flag; setting it from a thread is fine


if __name__ == "__main__":
    sys.exit(main())
