"""gunicorn with uvicorn workers and ``--preload``: every worker exports its own spans.

configure() runs once, in the gunicorn master, before it forks two workers. Each worker
must export the spans of the requests it served, under a ``service.instance.id`` of its
own, while it runs and when it is stopped (the spans still queued at exit).
"""

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gunicorn.config import KNOWN_SETTINGS

from autobot_apm.receiver import OTLPReceiver
from support import free_port

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
APP = "gunicorn_app:app"
WORKERS = 2
START_LIMIT_S = 30.0
STOP_LIMIT_S = 30.0
# uvicorn 0.54 still ships uvicorn.workers, deprecated in favour of the uvicorn-worker
# package: use that one when it is installed.
WORKER_CLASS = (
    "uvicorn_worker.UvicornWorker"
    if importlib.util.find_spec("uvicorn_worker")
    else "uvicorn.workers.UvicornWorker"
)
# gunicorn 27 opens a control socket under ~/.gunicorn unless told not to.
NO_CONTROL_SOCKET = [
    flag
    for setting in KNOWN_SETTINGS
    for flag in setting.cli or ()
    if flag == "--no-control-socket"
]


def _gunicorn_command(port):
    return [
        sys.executable, "-m", "gunicorn", "--preload", "--workers", str(WORKERS),
        "--worker-class", WORKER_CLASS, "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE),
        "--graceful-timeout", "10", *NO_CONTROL_SOCKET, APP,
    ]  # fmt: skip


def _uvicorn_command(port):
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--host", "127.0.0.1",
        "--port", str(port), APP,
    ]  # fmt: skip


@contextlib.contextmanager
def _serving(command, port, receiver, schedule_delay_ms, log_path):
    """Run the server on loopback until the block ends; stop it with SIGTERM, then SIGKILL."""
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": str(schedule_delay_ms),
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
    }
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(server, port, log_path)
        yield server, f"http://127.0.0.1:{port}"
    finally:
        _stop(server)


def _wait_until_serving(server, port, log_path):
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"server exited:\n{log_path.read_text()}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"no answer in {START_LIMIT_S} s:\n{log_path.read_text()}")


def _stop(server):
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(STOP_LIMIT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def _request(base_url):
    # A connection per request, so that the kernel may hand each to either worker.
    return httpx.get(f"{base_url}/work", headers={"connection": "close"}, timeout=10).text


def _until_every_worker_answered(base_url, workers=WORKERS, limit_s=30.0):
    """Send requests, 8 at a time, until ``workers`` processes answered; return the answers."""
    answers = []
    deadline = time.monotonic() + limit_s
    with ThreadPoolExecutor(8) as pool:
        while len(set(answers)) < workers:
            assert time.monotonic() < deadline, f"only workers {set(answers)} answered"
            answers += pool.map(_request, [base_url] * 8)
    return answers


def _request_spans(spans):
    return [span for span in spans if span.kind == "SERVER" and span.attributes.get("url.path")]


def _until_request_spans(receiver, count, timeout=20.0):
    spans = receiver.wait_for_spans(lambda found: len(_request_spans(found)) >= count, timeout)
    return _request_spans(spans)


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


class TestGunicornPreload:
    def test_each_worker_exports_with_its_own_instance_id(self, receiver, tmp_path):
        """While running, both workers export, under two distinct service.instance.id values."""
        port = free_port()
        with _serving(_gunicorn_command(port), port, receiver, 100, tmp_path / "log") as (
            _,
            base_url,
        ):
            answers = _until_every_worker_answered(base_url)
            spans = _until_request_spans(receiver, len(answers) + 1)  # +1: readiness probe
        assert WORKERS == len({span.resource["service.instance.id"] for span in spans})
        assert {"gunicorn-app"} == {span.resource["service.name"] for span in spans}

    def test_queued_spans_are_exported_when_workers_stop(self, receiver, tmp_path):
        """With a 60 s export delay, every request's span still arrives once gunicorn stops."""
        log_path = tmp_path / "log"
        port = free_port()
        with _serving(_gunicorn_command(port), port, receiver, 60_000, log_path) as (
            server,
            base_url,
        ):
            answers = _until_every_worker_answered(base_url)
            assert [] == receiver.spans  # nothing is exported before the workers exit
            _stop(server)
            assert 0 == server.returncode, log_path.read_text()
        # The servers have exited: what they flushed has arrived (the receiver keeps a
        # batch before it answers), so a short wait is enough.
        spans = _until_request_spans(receiver, len(answers) + 1, timeout=2)
        assert len(answers) + 1 == len(spans)
        assert WORKERS == len({span.resource["service.instance.id"] for span in spans})


class TestUvicornSigterm:
    def test_queued_spans_are_exported_when_uvicorn_stops(self, receiver, tmp_path):
        """Plain uvicorn stopped with SIGTERM (docker stop, Kubernetes) exports queued spans."""
        port = free_port()
        with _serving(_uvicorn_command(port), port, receiver, 60_000, tmp_path / "log") as (
            server,
            base_url,
        ):
            answers = _until_every_worker_answered(base_url, workers=1)
            _stop(server)
        spans = _until_request_spans(receiver, len(answers) + 1, timeout=2)
        assert len(answers) + 1 == len(spans)
