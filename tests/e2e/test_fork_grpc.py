"""Forks while gRPC exports are in flight, in real processes, checked on the wire.

gRPC prepares a fork only when no thread is inside a gRPC call; otherwise the child's
first call into gRPC aborts or hangs it. A parent configured for OTLP/gRPC exports
spans every few milliseconds while four threads make tracked calls. The receiver holds
each span export for a moment before it answers, and the parent forks child after
child, each while the receiver holds one of its exports. Each child makes one tracked
call and flushes.

With gRPC's fork handling on (the variable unset, or 1), every child must exit cleanly
and its span arrive under an instance id of its own. With it off (0), gRPC cannot be
used in a child at all: every child must still exit cleanly, warn, and export nothing.
"""

import time

import pytest
from forking import run_program

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

CHILDREN = 24
HOLD_S = 0.05

PROGRAM = r'''
import json, logging, os, sys, threading, time
import autobot_apm as apm
from forking import RESULT, fork_each, reap, start_threads
from opentelemetry import trace

logging.getLogger("autobot_apm").addHandler(logging.StreamHandler())  # its warnings: stderr
apm.configure(service_name="fork-grpc", endpoint=os.environ["ENDPOINT"], protocol="grpc",
              span_schedule_delay=0.005, metric_export_interval=600, shutdown_timeout=5)
stop = threading.Event()
WAIT_LIMIT_S = 20


def churn():
    while not stop.is_set():
        with apm.track_cache("busy"):
            pass


ME = trace.get_tracer_provider().resource.attributes["service.instance.id"]
HELD = os.path.join(os.environ["HOLD_DIR"], f"held-{ME}")


def while_an_export_is_held():
    """Return while the receiver holds an export of this process's: the exporting
    thread is inside its gRPC call."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not os.path.exists(HELD) and time.monotonic() < deadline:
        time.sleep(0.001)


def child(index):
    with apm.track_cache(f"child-{index}"):
        pass
    os._exit(0 if apm.shutdown() else 3)


start_threads(churn)
result = reap(fork_each(int(os.environ["CHILDREN"]), child, while_an_export_is_held))
stop.set()
with apm.track_cache("parent-after"):
    pass
result["parent_flushed"] = apm.shutdown()
print(RESULT, json.dumps(result))
'''


@pytest.fixture
def receiver(tmp_path):
    """Holds each span export for HOLD_S before answering, with a file named after the
    sender's instance id in place meanwhile: the forking program waits for its file."""

    def hold(spans):
        held = tmp_path / f"held-{spans[0].resource['service.instance.id']}"
        held.touch()
        try:
            time.sleep(HOLD_S)
        finally:
            held.unlink()

    with OTLPReceiver(on_spans=hold) as rx:
        yield rx


def _run(tmp_path, receiver, fork_support):
    env = {"ENDPOINT": receiver.grpc_endpoint, "CHILDREN": str(CHILDREN)}
    env["HOLD_DIR"] = str(tmp_path)
    env["GRPC_ENABLE_FORK_SUPPORT"] = fork_support
    return run_program(tmp_path, PROGRAM, env=env)


def _spans(receiver):
    """Once the parent's last span is in, every span any child sent is in too: each
    child's flush ended before the parent made it."""
    return receiver.wait_for_spans(lambda got: "get parent-after" in {s.name for s in got})


def _instance(span):
    return span.resource["service.instance.id"]


@pytest.mark.parametrize("fork_support", [None, "1"], ids=["unset", "on"])
def test_every_child_exports_when_forked_among_grpc_exports(tmp_path, receiver, fork_support):
    """gRPC's fork handling on: no child aborts or hangs, each child's span arrives under
    an instance id of its own, and the parent goes on exporting."""
    result, stderr = _run(tmp_path, receiver, fork_support)

    assert {"codes": [0] * CHILDREN, "hung": 0, "parent_flushed": True} == result, stderr
    spans = _spans(receiver)
    children = {s.name: _instance(s) for s in spans if s.name.startswith("get child-")}
    assert {f"get child-{index}" for index in range(CHILDREN)} == set(children)
    parent = {_instance(s) for s in spans if s.name == "get parent-after"}
    assert CHILDREN == len(set(children.values()))
    assert not parent & set(children.values())


def test_children_export_nothing_but_live_when_grpc_fork_handling_is_off(tmp_path, receiver):
    """GRPC_ENABLE_FORK_SUPPORT=0: gRPC would hang or crash a child that calls into it,
    so each child exits cleanly, says why its telemetry is off, and sends nothing."""
    result, stderr = _run(tmp_path, receiver, "0")

    assert {"codes": [0] * CHILDREN, "hung": 0, "parent_flushed": True} == result, stderr
    assert CHILDREN == stderr.count("exports no telemetry: GRPC_ENABLE_FORK_SUPPORT")
    names = {span.name for span in _spans(receiver)}
    assert not {name for name in names if name.startswith("get child-")}
