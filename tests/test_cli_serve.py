"""``autobot-apm serve`` end to end: a real command, two real services, real signals.

Service A (OTLP/HTTP) starts a trace and hands its context to service B (OTLP/gRPC) on
the command line; serve must print one trace with the spans of both. Then a signal stops
it: exit status 0, a closing line, no process left behind, the ports closed.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 60.0  # generous: the machine may be busy; nothing waits this long when well

SERVICE_A = """
import json, subprocess, sys
import autobot_apm as apm
apm.configure(service_name="serve-e2e-a", endpoint=sys.argv[1], span_schedule_delay=0.1)
with apm.track_operation("checkout", kind="server"):
    carrier = apm.inject({})
    subprocess.run([sys.executable, "-c", sys.argv[3], sys.argv[2], json.dumps(carrier)],
                   check=True)
apm.shutdown()
"""

SERVICE_B = """
import json, sys
import autobot_apm as apm
apm.configure(service_name="serve-e2e-b", endpoint=sys.argv[1], protocol="grpc",
              span_schedule_delay=0.1)
with apm.attach_context(json.loads(sys.argv[2])):
    with apm.track_operation("charge", kind="server"):
        with apm.track_llm("openai", "demo-mini") as call:
            call.usage(input_tokens=12, output_tokens=30)
apm.shutdown()
"""


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    return env


class Output:
    """The lines a process prints, read on a thread so that waiting can have a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        assert process.stdout is not None
        stream = process.stdout
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + DEADLINE_S
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"no line matching {pattern!r}; serve printed:\n" + "\n".join(self.lines))

    def rest(self) -> None:
        self._thread.join(DEADLINE_S)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_shows_one_trace_across_two_services_and_stops_cleanly(stop_signal: int) -> None:
    command = [sys.executable, "-m", "autobot_apm.cli", "serve", "--grpc-port", "0",
               "--http-port", "0", "--quiet-period", "0.5", "--interval", "0.5"]  # fmt: skip
    serve = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=environment(), cwd=ROOT)  # fmt: skip
    try:
        output = Output(serve)
        grpc = output.wait_for(r"OTLP/gRPC  (http://127\.0\.0\.1:\d+)")[1]
        http = output.wait_for(r"OTLP/HTTP  (http://127\.0\.0\.1:\d+)")[1]
        output.wait_for(r"export OTEL_EXPORTER_OTLP_ENDPOINT=http://127\.0\.0\.1:\d+")
        subprocess.run([sys.executable, "-c", SERVICE_A, http, grpc, SERVICE_B],
                       env=environment(), check=True, timeout=DEADLINE_S)  # fmt: skip

        output.wait_for(r"^serve-e2e-a -> serve-e2e-b$")
        start = len(output.lines)
        output.wait_for(r"trace [0-9a-f]{32} · 3 spans")
        output.wait_for(r"tokens_in=12")  # the LLM call of B, the deepest span
        tree = output.lines[start - 1 :]
        assert any("serve-e2e-a" in line and "checkout" in line for line in tree), tree
        assert any("serve-e2e-b" in line and "charge" in line for line in tree), tree
        output.wait_for(r"^serve-e2e-b\s+\S+\s+1\s+0\s+.*\s42$")  # its row of the table

        children = psutil.Process(serve.pid).children(recursive=True)
        serve.send_signal(stop_signal)
        assert serve.wait(timeout=DEADLINE_S) == 0
        output.rest()
        assert output.lines[-1].startswith("autobot-apm serve stopped: 3 spans, 1 trace")
        _, alive = psutil.wait_procs(children, timeout=DEADLINE_S)
        assert alive == []
        port = int(http.rsplit(":", 1)[1])
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=5),
        ):
            pass
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        if serve.stdout is not None:
            serve.stdout.close()
