"""The embedded OTLP receiver in a process of its own, driven over standard input.

The export benchmark runs it apart so that decoding what arrives does not compete for
the interpreter lock with the process being measured. It prints its endpoints as one
JSON line, then obeys one command per line, answering each with a line:

- ``mode NAME``: answer exports as a failing collector would (see OTLPReceiver.mode);
- ``stop`` / ``start``: go away and come back on the same ports;
- ``count``: spans received so far (kept as a count; the records are dropped);
- ``quit`` (or end of input).
"""

from __future__ import annotations

import json
import sys
import threading
import time

from autobot_apm.receiver import OTLPReceiver

_total = {"spans": 0}
_lock = threading.Lock()


def drain(receiver: OTLPReceiver) -> None:
    """Keep the count, not the records: a throughput run would fill the memory."""
    while True:
        time.sleep(0.2)
        with _lock:
            _total["spans"] += sum(
                r.item_count for r in receiver.requests if r.signal == "traces" and r.mode == "ok"
            )
            receiver.clear()


def obey(receiver: OTLPReceiver, command: str) -> str:
    verb, _, argument = command.partition(" ")
    if verb == "mode":
        receiver.mode = argument
    elif verb == "stop":
        receiver.stop()
    elif verb == "start":
        receiver.start()
    elif verb == "count":
        with _lock:
            return str(
                _total["spans"]
                + sum(
                    r.item_count
                    for r in receiver.requests
                    if r.signal == "traces" and r.mode == "ok"
                )
            )
    return "ok"


def main() -> None:
    receiver = OTLPReceiver().start()
    threading.Thread(target=drain, args=(receiver,), daemon=True).start()
    endpoints = {"grpc": receiver.grpc_endpoint, "http": receiver.http_endpoint}
    print(json.dumps(endpoints), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        print(obey(receiver, command), flush=True)
    receiver.stop()


if __name__ == "__main__":
    main()
