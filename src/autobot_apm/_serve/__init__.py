"""``autobot-apm serve``: a collector stand-in for local development, in the terminal.

It runs the embedded OTLP receiver (:mod:`autobot_apm.receiver`) on loopback, prints
each trace as a tree once it is complete (:mod:`.assembly`, :mod:`.loop`) and keeps a
per-service table of rate, errors, latency and LLM tokens (:mod:`.stats`), redrawn in
place on a terminal (:mod:`.screen`). SIGINT and SIGTERM stop it cleanly, exit status 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

from .._sdk.console.text import write_text
from ..receiver import OTLPReceiver
from .assembly import DEFAULT_QUIET_S
from .loop import DEFAULT_INTERVAL_S, ServeLoop
from .screen import Screen
from .stats import DEFAULT_WINDOW_S

__all__ = ["add_serve_arguments", "run_serve"]

TICK_S = 0.2  # how long the loop waits for spans before looking at the clock again


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``autobot-apm serve``."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s); any other than loopback "
        "accepts telemetry from the network, without authentication",
    )
    parser.add_argument(
        "--grpc-port",
        type=_port,
        default=4317,
        help="OTLP/gRPC port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--http-port",
        type=_port,
        default=4318,
        help="OTLP/HTTP port, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--quiet-period",
        type=_positive,
        default=DEFAULT_QUIET_S,
        help="seconds without a new span, after its root, before a trace prints "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=_positive,
        default=DEFAULT_WINDOW_S,
        help="seconds of the rate and latency window (default: %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=_positive,
        default=DEFAULT_INTERVAL_S,
        help="seconds between tables when the output is not a terminal (default: %(default)s)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="never redraw in place, even on a terminal"
    )


def run_serve(args: argparse.Namespace, out: TextIO, *, color: bool) -> int:
    """Receive until SIGINT or SIGTERM; returns the exit status."""
    host = "127.0.0.1" if args.host == "localhost" else args.host
    screen = Screen(out, live=_is_terminal(out) and not args.plain)
    loop = ServeLoop(
        screen,
        time.monotonic,
        color=color,
        quiet_s=args.quiet_period,
        window_s=args.window,
        interval_s=args.interval,
    )
    receiver = OTLPReceiver(
        host=host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        on_spans=loop.receive,
        keep=False,
        allow_remote=True,
    )
    stop = threading.Event()
    with _stopped_by_signals(stop):
        try:
            receiver.start()
        except OSError as exc:
            write_text(out, f"autobot-apm serve: {exc}\n")
            return 1
        try:
            screen.say(banner(receiver, host, args.quiet_period))
            while not stop.is_set():
                loop.step(TICK_S)
        finally:
            receiver.stop()
        screen.say(loop.finish())
    return 0


def banner(receiver: OTLPReceiver, host: str, quiet_s: float) -> str:
    """Where to send, and how: the first lines serve prints."""
    grpc, http = receiver.grpc_endpoint, receiver.http_endpoint
    lines = []
    if not _is_loopback(host):
        lines.append(
            f"WARNING: listening on {host}, not loopback: anyone who can reach this machine "
            "can send telemetry here (no TLS, no authentication)."
        )
    lines += [
        "autobot-apm serve: an OTLP receiver for local development",
        f"  OTLP/gRPC  {grpc}",
        f"  OTLP/HTTP  {http}",
        "Point your services at it:",
        f"  export OTEL_EXPORTER_OTLP_ENDPOINT={http}",
        f"  (gRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT={grpc})",
        f"A trace prints once its root span is in and {quiet_s:g} s pass without more. "
        "Ctrl-C stops.",
    ]
    return "\n".join(lines) + "\n"


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (main thread only); the old handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535")
    return port


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value
