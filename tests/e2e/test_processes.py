"""Forked and spawned processes export their own spans, with their own instance id."""

import os
import subprocess
import sys
import textwrap

import pytest

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

PROGRAM = """
import multiprocessing, os, sys
import autobot_apm as apm

# At import, as applications do: a spawned child re-imports this module and configures too.
apm.configure(service_name="forker", endpoint=os.environ["ENDPOINT"], span_schedule_delay=60)

def work(tag):
    with apm.track_cache(tag):
        pass

if __name__ == "__main__":
    work("parent")
    {body}
"""

BODIES = {
    "os.fork": """
    pid = os.fork()
    if pid == 0:
        work("child")
        sys.exit(0)  # a normal exit runs the atexit flush
    os.waitpid(pid, 0)
    """,
    "multiprocessing fork": """
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=work, args=("child",)); p.start(); p.join()
    """,
    "multiprocessing spawn": """
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=work, args=("child",)); p.start(); p.join()
    """,
}


@pytest.mark.parametrize("how", sorted(BODIES))
def test_children_export_their_spans(tmp_path, how):
    """The child's span arrives from the child, with a service.instance.id of its own."""
    script = tmp_path / "program.py"
    body = textwrap.indent(textwrap.dedent(BODIES[how]), "    ").strip()
    script.write_text(textwrap.dedent(PROGRAM).replace("{body}", body))
    with OTLPReceiver() as receiver:
        env = {**os.environ, "ENDPOINT": receiver.http_endpoint}
        result = subprocess.run(
            [sys.executable, str(script)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert 0 == result.returncode, result.stderr
        spans = receiver.wait_for_spans(2)
    by_name = {span.name: span for span in spans}
    parent, child = by_name["get parent"], by_name["get child"]
    assert parent.resource["service.instance.id"] != child.resource["service.instance.id"]


BUSY_FORK = """
import os, sys, threading
import autobot_apm as apm

apm.configure(service_name="busy", endpoint=os.environ["ENDPOINT"], protocol=os.environ["PROTOCOL"],
              span_schedule_delay=60, metric_export_interval=600)
stop = threading.Event()

def churn():
    # Tracked calls in a loop: at the fork one of these threads is often inside the SDK,
    # holding a span-queue or metric-aggregation lock.
    while not stop.is_set():
        with apm.track_cache("busy"):
            pass

threads = [threading.Thread(target=churn, daemon=True) for _ in range(4)]
for thread in threads:
    thread.start()
children = []
for index in range(int(os.environ["CHILDREN"])):
    pid = os.fork()
    if pid == 0:
        with apm.track_cache(f"child-{index}"):
            pass
        os._exit(0 if apm.shutdown() else 3)
    children.append(pid)
stop.set()
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print("codes", codes)
sys.exit(max(codes))
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_fork_from_a_busy_process_never_hangs_the_child(tmp_path, protocol):
    """Children forked while four threads make tracked calls: each child's first tracked
    call returns, its shutdown flushes in time, and its span arrives from its own
    instance."""
    children = 10
    script = tmp_path / "busy.py"
    script.write_text(BUSY_FORK)
    with OTLPReceiver() as receiver:
        endpoint = receiver.http_endpoint if protocol == "http/protobuf" else receiver.grpc_endpoint
        env = {**os.environ, "ENDPOINT": endpoint, "PROTOCOL": protocol, "CHILDREN": str(children)}
        # The timeout only ends a hung run; a healthy one finishes in seconds.
        result = subprocess.run(
            [sys.executable, str(script)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert 0 == result.returncode, result.stdout + result.stderr
        names = {f"get child-{index}" for index in range(children)}
        spans = receiver.wait_for_spans(lambda got: names <= {span.name for span in got})
    instances = {span.resource["service.instance.id"] for span in spans if span.name in names}
    assert children == len(instances)
