"""``autobot-apm demo`` as a user runs it: a real command, five real service processes.

Each run's output is checked as a person would read it (a trace tree through every
service, the metrics table with its rows, plain text off a terminal), and after each
run, finished or interrupted, nothing may be left: no child process, no listening port.
"""

from __future__ import annotations

import re
import shutil
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

SERVICES = ("frontend", "backend", "cache", "llm", "worker")
RUN_TIMEOUT = 90
Run = tuple[int, str, str, set[int]]  # exit status, stdout, stderr, child pids


def demo_command(*extra: str) -> list[str]:
    """The installed console script, as the README runs it."""
    script = Path(sys.executable).with_name("autobot-apm")
    program = str(script) if script.exists() else shutil.which("autobot-apm")
    assert program, "the autobot-apm console script is not installed"
    return [program, "demo", *extra]


class Watched:
    """A demo process, and every child process it was seen with."""

    def __init__(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            demo_command(*extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.children: set[int] = set()
        self._watching = threading.Thread(target=self._watch, daemon=True)
        self._watching.start()

    def _watch(self) -> None:
        """List the children every tenth of a second, until the demo exits."""
        parent = psutil.Process(self.process.pid)
        while True:
            try:
                self.children.update(child.pid for child in parent.children(recursive=True))
                self.process.wait(timeout=0.1)  # returns as soon as the demo exits
                return
            except subprocess.TimeoutExpired:
                continue
            except psutil.NoSuchProcess:
                return

    def finish(self, timeout: float = RUN_TIMEOUT) -> tuple[int, str, str]:
        try:
            out, err = self.process.communicate(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
            self._watching.join()
        return self.process.returncode, out, err


def ports_in(text: str) -> list[int]:
    """The ports the progress lines name: the receiver's and each service's."""
    return [int(port) for port in re.findall(r"(?:127\.0\.0\.1| ):(\d{4,5})\b", text)]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def running(pids: set[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def section(text: str, title: str) -> str:
    """The block of output under the title that starts with ``title``."""
    for block in text.split("\n\n"):
        if block.startswith(title):
            return block
    raise AssertionError(f"no section {title!r} in:\n{text}")


def table_rows(text: str) -> list[list[str]]:
    body = section(text, "Metrics per service").splitlines()[2:]
    return [re.split(r"\s{2,}", line.strip()) for line in body]


@pytest.fixture(scope="module")
def finished_run() -> Run:
    """One complete run, shared by the checks of its output."""
    run = Watched("--no-color")
    status, out, err = run.finish()
    return status, out, err, run.children


class TestDemoRun:
    def test_exits_zero(self, finished_run: Run) -> None:
        """The demo succeeds and reports no problem."""
        status, out, err, _ = finished_run
        assert (0, "") == (status, err), out

    def test_progress_lines(self, finished_run: Run) -> None:
        """Every step ends with a check mark line, services with their ports."""
        out = finished_run[1]
        steps = [line for line in out.splitlines() if line.startswith("✓ ")]
        assert 5 == len(steps), out
        assert all(f"{name} :" in steps[1] for name in SERVICES)

    def test_trace_crosses_every_service(self, finished_run: Run) -> None:
        """The full request's tree has spans of all five services and no error."""
        tree = section(finished_run[1], "A full request").splitlines()
        services = {re.split(r"\s{2,}", line.strip())[2] for line in tree[2:]}
        assert set(SERVICES) == services
        assert "error" not in tree[1]

    def test_trace_shows_each_tracker(self, finished_run: Run) -> None:
        """Cache, database, streamed LLM call and queue appear in the full request."""
        tree = section(finished_run[1], "A full request")
        for expected in ("cache=", "db=sqlite", "ttfc=", "send follow-ups", "process follow-ups"):
            assert expected in tree

    def test_failed_request(self, finished_run: Run) -> None:
        """The planned failure is shown with the error at the LLM and at the frontend."""
        tree = section(finished_run[1], "A failed request").splitlines()
        assert re.search(r"frontend\s+srv\s+POST /ask.*✗ 502", tree[2])
        assert any(re.search(r"llm\s+srv.*✗ 503", line) for line in tree)

    def test_slow_query(self, finished_run: Run) -> None:
        """The deliberately slow report query is listed over its threshold."""
        slow = section(finished_run[1], "Slow database calls")
        assert "backend: SELECT orders products took" in slow
        assert "(threshold 200 ms)" in slow

    def test_metric_rows(self, finished_run: Run) -> None:
        """The metrics table has a row per service and operation, with the right counts."""
        rows = {tuple(cells[:4]): cells[4:] for cells in table_rows(finished_run[1])}
        for key in [
            ("frontend", "http", "POST /ask", "4"),
            ("frontend", "http", "GET /products/{product_id}", "3"),
            ("backend", "db", "SELECT products", "3"),
            ("backend", "db", "SELECT orders products", "1"),
            ("backend", "cache", "get products", "7"),
            ("backend", "llm", "chat demo-mini", "3"),
            ("backend", "queue", "send follow-ups", "3"),
            ("cache", "http", "GET /cache/{key}", "7"),
            ("llm", "http", "POST /v1/chat/completions", "4"),
            ("worker", "queue", "process follow-ups", "3"),
        ]:
            assert key in rows, f"{key} missing from\n{finished_run[1]}"

    def test_metric_notes(self, finished_run: Run) -> None:
        """Errors, slowness, hit ratio, tokens and time to first chunk are noted."""
        notes = {tuple(cells[:3]): cells[-1] for cells in table_rows(finished_run[1])}
        assert "1 error" == notes[("frontend", "http", "POST /ask")]
        assert "1 slow" == notes[("backend", "db", "SELECT orders products")]
        assert "hit ratio 57% (4 hit, 3 miss)" == notes[("backend", "cache", "get products")]
        assert re.fullmatch(
            r"tokens 35 in / 33 out, first chunk p50 \S+ m?s",
            notes[("backend", "llm", "chat demo-mini")],
        )

    def test_plain_output(self, finished_run: Run) -> None:
        """Off a terminal: no escape codes, no carriage returns."""
        out = finished_run[1]
        assert ("\x1b" not in out, "\r" not in out) == (True, True)

    def test_nothing_left_running(self, finished_run: Run) -> None:
        """Every child is gone and no port the demo used still listens."""
        _, out, _, children = finished_run
        assert len(children) >= len(SERVICES)
        assert [] == running(children)
        ports = ports_in(out)
        assert len(SERVICES) + 1 == len(ports)
        assert [] == [port for port in ports if listening(port)]


class TestInterrupted:
    def test_ctrl_c_stops_everything(self) -> None:
        """Ctrl-C while the services run: exit status 130, no child, no port left."""
        run = Watched("--no-color")
        assert run.process.stdout is not None
        seen = ""
        deadline = time.monotonic() + RUN_TIMEOUT
        while "services up" not in seen and time.monotonic() < deadline:
            line = run.process.stdout.readline()
            if not line:
                break
            seen += line
        run.process.send_signal(signal.SIGINT)
        status, out, err = run.finish(timeout=30)
        assert 130 == status, seen + out + err
        assert "interrupted" in err
        assert [] == running(run.children)
        assert [] == [port for port in ports_in(seen) if listening(port)]
