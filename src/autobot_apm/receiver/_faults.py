"""Fault injection: the receiver's mode, what each mode answers, and the gate of "hang".

A test flips ``OTLPReceiver.mode`` while exporters are sending; every request reads
the mode once, when it arrives, so a request is answered consistently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

MODES = ("ok", "unavailable", "error", "throttle", "hang", "garbage")

# What a throttled client is told to wait (HTTP Retry-After, gRPC RetryInfo).
RETRY_AFTER_S = 1

# Non-protobuf bytes: a length-delimited field 1 that claims 127 bytes and has 7.
GARBAGE = b"\x0a\x7fgarbage"


class Refusal(NamedTuple):
    """How a request is refused, in both protocols' terms."""

    http_status: int
    grpc_code: str  # a grpc.StatusCode name
    grpc_number: int  # the same code as a number, for google.rpc.Status bodies
    message: str


REFUSALS: dict[str, Refusal] = {
    "unavailable": Refusal(503, "UNAVAILABLE", 14, "receiver is unavailable (fault injection)"),
    "error": Refusal(500, "INTERNAL", 13, "receiver failed (fault injection)"),
    "throttle": Refusal(429, "RESOURCE_EXHAUSTED", 8, "receiver is throttling (fault injection)"),
    # A hung request that is released has been given up on: the client should retry.
    "hang": Refusal(503, "UNAVAILABLE", 14, "receiver stopped hanging (fault injection)"),
    "invalid": Refusal(400, "INVALID_ARGUMENT", 3, "request body is not an OTLP export request"),
}


class FaultSwitch:
    """The current mode, and the gate that requests answered by "hang" wait at.

    Hung requests are released when the mode changes or the receiver closes, so that
    neither a mode change nor ``stop()`` waits on a client's timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode = "ok"
        self._gate = threading.Event()
        self._closed = False

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown receiver mode {mode!r}; expected one of {', '.join(MODES)}")
        with self._lock:
            if mode != self._mode:
                self._gate.set()
                self._gate = threading.Event()
            self._mode = mode

    def hang(self, client_waiting: Callable[[], bool], poll_s: float = 0.05) -> None:
        """Block a request until released, or until its client has given up."""
        with self._lock:
            gate = self._gate if not self._closed else None
        if gate is None:
            return
        while client_waiting() and not gate.wait(poll_s):
            pass

    def close(self) -> None:
        """Release every hung request; new ones do not hang until :meth:`open`."""
        with self._lock:
            self._closed = True
            self._gate.set()

    def open(self) -> None:
        with self._lock:
            self._closed = False
            self._gate = threading.Event()
