"""Every way a process forks, in real processes, each child's telemetry checked on the wire.

A parent configures autobot-apm, starts four threads that make tracked calls in a loop
(``with apm.track_cache("busy"): pass``), and forks while they run: from the main thread,
from another thread, through a ``multiprocessing`` fork pool. At the fork a busy thread
often holds an SDK lock (a metric aggregation, the span queue); the child's copy of it
stays held. Each child must not hang, must export its own telemetry under its own
``service.instance.id``, must flush within the shutdown cap, and the parent must go on
exporting. Last, gunicorn ``--preload`` with sync and uvicorn workers: workers forked
from a master that configured autobot-apm at import.

Every wait is bounded and waits on a condition; every process is stopped by the test.
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
from forking import kill_group, run_program
from gunicorn.config import KNOWN_SETTINGS

from autobot_apm.receiver import OTLPReceiver
from support import free_port

pytestmark = pytest.mark.e2e

PROTOCOLS = ["http/protobuf", "grpc"]
CHILDREN = 8
POOL_TASKS = 8
# gunicorn 27 opens a control socket under ~/.gunicorn unless told not to.
NO_CONTROL_SOCKET = [
    flag
    for setting in KNOWN_SETTINGS
    for flag in setting.cli or ()
    if flag == "--no-control-socket"
]

PROGRAM = r'''
import json, multiprocessing, os, sys, threading
import autobot_apm as apm
from forking import REAP_LIMIT_S, RESULT, fork_each, reap, start_threads
from opentelemetry import metrics

apm.configure(service_name="fork-matrix", endpoint=os.environ["ENDPOINT"],
              protocol=os.environ["PROTOCOL"], span_schedule_delay=60,
              metric_export_interval=600, shutdown_timeout=5)
stop = threading.Event()


def churn():
    # At the fork one of these threads is often inside the SDK, holding one of its locks.
    while not stop.is_set():
        with apm.track_cache("busy"):
            pass


def child(tag):
    """The child's whole life: one tracked call, then a flush that must finish in time."""
    with apm.track_cache(tag):
        pass
    # The MeterProvider inherited from the parent is still the global one, as it is for
    # code that uses the OpenTelemetry API directly; its next export (a periodic one in a
    # long-lived worker) must not send the parent's copied measurements as the child's.
    metrics.get_meter_provider().force_flush(5000)
    os._exit(0 if apm.shutdown() else 3)


def fork_children(count):
    return fork_each(count, lambda index: child(f"child-{index}"))


def from_main_thread():
    start_threads(churn)
    return reap(fork_children(int(os.environ["CHILDREN"])))


def from_another_thread():
    start_threads(churn)
    pids = []
    count = int(os.environ["CHILDREN"])
    forker = threading.Thread(target=lambda: pids.extend(fork_children(count)))
    forker.start()
    forker.join(REAP_LIMIT_S)
    return reap(pids)


def task(index):
    with apm.track_cache(f"task-{index}"):
        pass
    return os.getpid()


def fork_pool():
    start_threads(churn)
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(2)  # its workers are forked now, while the threads churn
    try:
        tasks = range(int(os.environ["TASKS"]))
        workers = pool.map_async(task, tasks, chunksize=1).get(REAP_LIMIT_S)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    pool.join()  # the workers exit, each flushing its telemetry on the way out
    return {"workers": sorted(set(workers))}


result = {"main": from_main_thread, "thread": from_another_thread, "pool": fork_pool}[sys.argv[1]]()
stop.set()
with apm.track_cache("parent-after"):  # the parent goes on exporting after its children
    pass
result["parent_flushed"] = apm.shutdown()
print(RESULT, json.dumps(result))
'''


def _run(tmp_path, receiver, protocol, how):
    """The program's result, and what it wrote on stderr."""
    endpoint = receiver.http_endpoint if protocol == "http/protobuf" else receiver.grpc_endpoint
    env = {"ENDPOINT": endpoint, "PROTOCOL": protocol}
    env |= {"CHILDREN": str(CHILDREN), "TASKS": str(POOL_TASKS)}
    return run_program(tmp_path, PROGRAM, [how], env)


def _instance(span):
    return span.resource["service.instance.id"]


def _spans_named(receiver, names, stderr=""):
    """Wait for a span of each name; return them by name (the last one of each). When
    one never comes, the failure shows what the program wrote on stderr."""
    try:
        spans = receiver.wait_for_spans(lambda got: set(names) <= {span.name for span in got})
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\nThe program's stderr:\n{stderr}") from exc
    return {span.name: span for span in spans if span.name in names}


def _call_counts(receiver, instance):
    """The tracked-call counts in each metric export made under ``instance``."""
    return [
        sum(point.count or 0 for point in metric.points)
        for metric in receiver.metrics
        if metric.name == "autobot_apm.cache.operation.duration"
        and metric.resource.get("service.instance.id") == instance
    ]


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("how", ["main", "thread"])
def test_forked_children_of_a_busy_process(tmp_path, receiver, protocol, how):
    """os.fork() from the main thread or another thread while four threads make tracked
    calls: no child hangs, each flushes within the cap, its span and metrics arrive under
    an instance id of its own (never the parent's measurements), and the parent goes on."""
    result, stderr = _run(tmp_path, receiver, protocol, how)

    assert {"codes": [0] * CHILDREN, "hung": 0, "parent_flushed": True} == result, stderr
    names = {f"get child-{index}" for index in range(CHILDREN)} | {"get parent-after"}
    spans = _spans_named(receiver, names, stderr)
    parent = _instance(spans.pop("get parent-after"))
    children = {_instance(span) for span in spans.values()}
    assert CHILDREN == len(children)
    assert parent not in children
    receiver.wait_for_metrics(lambda _: all(_call_counts(receiver, i) for i in children))
    for instance in children:
        assert {1} == set(_call_counts(receiver, instance))  # its one call, nothing copied
    assert _call_counts(receiver, parent)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_multiprocessing_fork_pool(tmp_path, receiver, protocol):
    """A fork-context Pool started while threads churn: every task's span arrives, from the
    worker that ran it (one instance id per worker, none the parent's)."""
    result, stderr = _run(tmp_path, receiver, protocol, "pool")

    assert result["parent_flushed"], stderr
    names = {f"get task-{index}" for index in range(POOL_TASKS)} | {"get parent-after"}
    spans = _spans_named(receiver, names, stderr)
    parent = _instance(spans.pop("get parent-after"))
    workers = {_instance(span) for span in spans.values()}
    assert len(result["workers"]) == len(workers)
    assert parent not in workers


# --- gunicorn --preload: workers forked from a configured master ------------------------

GUNICORN_WORKERS = 2
START_LIMIT_S = 30.0
STOP_LIMIT_S = 30.0
UVICORN_WORKER = (
    "uvicorn_worker.UvicornWorker"
    if importlib.util.find_spec("uvicorn_worker")
    else "uvicorn.workers.UvicornWorker"
)
APPS = {"sync": "gunicorn_app:wsgi_app", UVICORN_WORKER: "gunicorn_app:app"}


def _gunicorn(worker_class, port, receiver, protocol, log):
    endpoint = receiver.http_endpoint if protocol == "http/protobuf" else receiver.grpc_endpoint
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before the workers stop
        "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
    }
    command = [
        sys.executable, "-m", "gunicorn", "--preload", "--workers", str(GUNICORN_WORKERS),
        "--worker-class", worker_class, "--bind", f"127.0.0.1:{port}",
        "--chdir", str(Path(__file__).parent), "--graceful-timeout", "10",
        *NO_CONTROL_SOCKET, APPS[worker_class],
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _answering_workers(base_url, log_path, server):
    """Send requests, 8 at a time, until every worker answered; return their pids."""
    deadline = time.monotonic() + START_LIMIT_S
    pids = set()
    with ThreadPoolExecutor(8) as pool:
        while len(pids) < GUNICORN_WORKERS:
            assert time.monotonic() < deadline, f"workers {pids}:\n{log_path.read_text()}"
            assert server.poll() is None, log_path.read_text()
            pids.update(answer for answer in pool.map(_ask, [base_url] * 8) if answer)
    return pids


def _ask(base_url):
    # A connection per request, so that the kernel may hand each to either worker.
    with contextlib.suppress(httpx.HTTPError):  # not listening yet
        headers = {"connection": "close"}
        return httpx.get(f"{base_url}/work", headers=headers, timeout=10).text
    return None


def _stop(server):
    """SIGTERM to the master (a graceful stop), then SIGKILL to the whole group."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(STOP_LIMIT_S)
    finally:
        kill_group(server)


@pytest.mark.parametrize(
    ("worker_class", "protocol"),
    [("sync", "http/protobuf"), ("sync", "grpc"), (UVICORN_WORKER, "grpc")],
)
def test_gunicorn_preload_workers(tmp_path, receiver, worker_class, protocol):
    """configure() runs in the master, which then forks the workers: each worker's spans
    arrive when it stops, under an instance id of its own, and the master's too."""
    port, log_path = free_port(), tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = _gunicorn(worker_class, port, receiver, protocol, log)
    try:
        pids = _answering_workers(f"http://127.0.0.1:{port}", log_path, server)
    finally:
        _stop(server)
    assert 0 == server.returncode, log_path.read_text()

    names = {f"get worker-{pid}" for pid in pids} | {"get preload"}
    spans = receiver.wait_for_spans(lambda got: names <= {span.name for span in got})
    instances = {name: {_instance(span) for span in spans if span.name == name} for name in names}
    master = instances.pop("get preload")
    assert all(1 == len(ids) for ids in instances.values())  # one identity per worker
    workers = set().union(*instances.values())
    assert GUNICORN_WORKERS == len(workers)
    assert not master & workers


APP_OWNED = r"""
import os, sys
from forking import RESULT
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
import autobot_apm as apm

provider = TracerProvider(resource=Resource.create({"service.name": "app-owned"}))
exporter = OTLPSpanExporter(endpoint=os.environ["ENDPOINT"] + "/v1/traces")
provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
trace.set_tracer_provider(provider)
apm.configure(metric_export_interval=600)
with apm.track_cache("parent"):
    pass
pid = os.fork()
if pid == 0:
    with apm.track_cache("child"):
        pass
    provider.shutdown()  # the application's provider: the application flushes it
    os._exit(0)
os.waitpid(pid, 0)
provider.shutdown()
print(RESULT, "{}")
"""


def test_providers_the_application_owns_are_left_as_they_are(tmp_path, receiver):
    """With the application's own TracerProvider, a forked child tracks through that same
    provider (autobot-apm rebuilds only what it built); the SDK's after-fork handling gives
    the child's spans an instance id of their own."""
    _, stderr = run_program(tmp_path, APP_OWNED, env={"ENDPOINT": receiver.http_endpoint})

    spans = _spans_named(receiver, {"get parent", "get child"}, stderr)
    assert {"app-owned"} == {span.resource["service.name"] for span in spans.values()}
    assert _instance(spans["get parent"]) != _instance(spans["get child"])
