"""Forked children that use the OpenTelemetry API directly, and log, checked on the wire.

A parent configures autobot-apm with log export on, then obtains at module level what
applications usually do: a tracer, a meter and a counter from the OpenTelemetry API, and
a ``logging`` logger. Four threads loop through a tracked call, a span of that tracer,
an add to that counter and now and then a log record, so at the fork one of them often
holds a lock of the SDK's span, metric or log pipeline; the main thread forks meanwhile.

Each child uses (a) the module-level tracer and counter obtained before the fork, (b) a
tracer and a meter it asks the API for after the fork, (c) a log record, and one tracked
call; then calls ``shutdown()``. Everything it made must arrive under one
``service.instance.id`` of its own, no child may hang, its export must not carry the
parent's measurements again, and the parent's telemetry must go on arriving afterwards.

Every wait is bounded and waits on a condition; every process is stopped by the test.
"""

import pytest
from forking import run_program

from autobot_apm.receiver import OTLPReceiver

pytestmark = pytest.mark.e2e

PROTOCOLS = ["http/protobuf", "grpc"]
CHILDREN = 4

PROGRAM = r"""
import json, logging, os, sys, threading
import autobot_apm as apm
from forking import REAP_LIMIT_S, RESULT, fork_each, reap, start_threads
from opentelemetry import metrics, trace

logging.getLogger("autobot_apm").addHandler(logging.StreamHandler())  # its warnings: stderr
FALLBACK = os.environ["REWIRE"] == "unexpected"
if FALLBACK:  # as with an SDK whose private layout differs from what rewiring expects
    from autobot_apm._sdk import rewire

    def unexpected(*_):
        raise rewire.UnexpectedInternals("simulated")

    rewire.rewire_tracer_provider = rewire.rewire_meter_provider = unexpected
apm.configure(service_name="fork-api", endpoint=os.environ["ENDPOINT"],
              protocol=os.environ["PROTOCOL"], logging="otlp", span_schedule_delay=60,
              metric_export_interval=600, shutdown_timeout=5)
# Obtained once, at import, before any fork: how most applications hold them.
tracer = trace.get_tracer("fork.app")
jobs = metrics.get_meter("fork.app").create_counter("fork.app.jobs")
log = logging.getLogger("fork.app")
log.setLevel(logging.INFO)
stop = threading.Event()


def churn():
    # At the fork one of these threads is often inside the SDK, holding one of its locks.
    turn = 0
    while not stop.is_set():
        turn += 1
        with apm.track_cache("busy"):
            pass
        with tracer.start_as_current_span("busy-direct"):
            jobs.add(1, {"who": "busy"})
        if turn % 64 == 0:  # a few records: the parent's log queue stays small
            log.info("busy")


def child(index):
    if not FALLBACK:  # there, the objects from before the fork are the parent's copies
        with tracer.start_as_current_span(f"module-tracer-{index}"):  # (a)
            jobs.add(1, {"who": f"child-{index}"})
        trace.get_tracer("fork.late").start_span(f"late-tracer-{index}").end()  # (b)
        late = metrics.get_meter("fork.late").create_counter("fork.late.jobs")
        late.add(1, {"who": f"child-{index}"})
    log.info("child %d", index)  # (c)
    with apm.track_cache(f"child-{index}"):
        pass
    os._exit(0 if apm.shutdown() else 3)


threads = start_threads(churn)
result = reap(fork_each(int(os.environ["CHILDREN"]), child))
stop.set()
for thread in threads:
    thread.join(REAP_LIMIT_S)
# The parent goes on after its children, through the same objects.
with tracer.start_as_current_span("module-tracer-parent"):
    jobs.add(1, {"who": "parent"})
log.info("parent after")
with apm.track_cache("parent-after"):
    pass
result["parent_flushed"] = apm.shutdown()
print(RESULT, json.dumps(result))
"""


def _run(tmp_path, receiver, protocol, rewire="as-built"):
    """The program's result, and what it wrote on stderr."""
    endpoint = receiver.http_endpoint if protocol == "http/protobuf" else receiver.grpc_endpoint
    env = {"ENDPOINT": endpoint, "PROTOCOL": protocol, "REWIRE": rewire}
    return run_program(tmp_path, PROGRAM, env=env | {"CHILDREN": str(CHILDREN)})


def _instance_of(record):
    return record.resource.get("service.instance.id")


def _spans_by_name(receiver, names):
    """Wait for a span of each name; return the instance ids each name arrived under."""
    spans = receiver.wait_for_spans(lambda got: names <= {span.name for span in got})
    return {name: {_instance_of(span) for span in spans if span.name == name} for name in names}


def _counts(receiver, metric, who):
    """{instance id: [the value of each export's point for ``who``]} for ``metric``."""
    found = {}
    for record in receiver.metrics:
        if record.name == metric:
            for point in record.points:
                if point.attributes.get("who") == who:
                    found.setdefault(_instance_of(record), []).append(point.value)
    return found


def _whos(receiver, metric, instance):
    """The ``who`` attributes of ``metric`` exported under ``instance``."""
    return {
        point.attributes.get("who")
        for record in receiver.metrics
        if record.name == metric and _instance_of(record) == instance
        for point in record.points
    }


def _log_instances(receiver, bodies):
    """Wait for a log record of each body; return the instance ids each arrived under."""
    records = receiver.wait_for_logs(lambda got: bodies <= {record.body for record in got})
    return {body: {_instance_of(r) for r in records if r.body == body} for body in bodies}


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_children_using_the_api_directly_export_as_themselves(tmp_path, receiver, protocol):
    """Each child's spans from a tracer obtained before and one obtained after the fork,
    its counts from a counter obtained before and one after, its log record and its
    tracked call all arrive under one instance id of its own; no child hangs; no child
    exports the parent's counts; the parent's telemetry goes on arriving after."""
    result, _ = _run(tmp_path, receiver, protocol)

    assert {"codes": [0] * CHILDREN, "hung": 0, "parent_flushed": True} == result
    kinds = ("module-tracer-{}", "late-tracer-{}", "get child-{}")
    names = {kind.format(i) for kind in kinds for i in range(CHILDREN)}
    names |= {"module-tracer-parent", "get parent-after"}
    instances = _spans_by_name(receiver, names)
    (parent,) = instances["module-tracer-parent"] | instances["get parent-after"]
    children = []
    for index in range(CHILDREN):
        (child,) = set().union(*(instances[kind.format(index)] for kind in kinds))
        children.append(child)
    assert CHILDREN == len(set(children))
    assert parent not in children

    bodies = {f"child {i}" for i in range(CHILDREN)} | {"parent after"}
    logs = _log_instances(receiver, bodies)
    assert {"parent after": {parent}} | {f"child {i}": {c} for i, c in enumerate(children)} == logs

    receiver.wait_for_metrics(lambda _: _counts(receiver, "fork.app.jobs", "parent"))
    for index, child in enumerate(children):
        who = f"child-{index}"
        assert {child: [1]} == _counts(receiver, "fork.app.jobs", who)
        assert {child: [1]} == _counts(receiver, "fork.late.jobs", who)
        assert {who} == _whos(receiver, "fork.app.jobs", child)  # nothing of the parent's
    assert {parent: [1]} == _counts(receiver, "fork.app.jobs", "parent")


def test_an_sdk_laid_out_otherwise_leaves_the_child_working(tmp_path, receiver):
    """When the SDK's private layout is not what rewiring expects, every child still ends
    in time, its tracked call and its log record arrive under an instance id of its own,
    and it says that objects obtained before the fork keep the parent's copies."""
    result, stderr = _run(tmp_path, receiver, "http/protobuf", rewire="unexpected")

    assert {"codes": [0] * CHILDREN, "hung": 0, "parent_flushed": True} == result
    names = {f"get child-{i}" for i in range(CHILDREN)} | {"get parent-after"}
    instances = _spans_by_name(receiver, names)
    (parent,) = instances.pop("get parent-after")
    children = [instances[f"get child-{i}"] for i in range(CHILDREN)]
    assert all(1 == len(ids) for ids in children)
    children = [ids.pop() for ids in children]
    assert CHILDREN == len(set(children) - {parent})
    bodies = {f"child {i}" for i in range(CHILDREN)}
    assert {f"child {i}": {c} for i, c in enumerate(children)} == _log_instances(receiver, bodies)
    assert CHILDREN == stderr.count("obtained before the fork keep the parent's copies")
