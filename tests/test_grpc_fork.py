"""The fork gate of the gRPC exporters (``_sdk/grpc_fork.py``), in process.

The forks themselves, in real processes on the wire, are in tests/e2e/test_fork_grpc.py.
These tests drive the gate's steps from threads, each wait bounded and on a condition.
"""

import sys
import threading

import pytest
from opentelemetry.sdk.resources import Resource

from autobot_apm._sdk import exporters, grpc_fork, logs, providers, rewire
from autobot_apm._sdk.grpc_exporters import GrpcLogExporter, GrpcMetricExporter, GrpcSpanExporter
from autobot_apm._sdk.grpc_fork import ExportGate, usable_in_child
from autobot_apm._sdk.settings import resolve
from support import wait_until

LIMIT_S = 30.0  # longer than any wait here can take when the gate works


def _inside(thread, function):
    """Whether ``thread`` is now inside ``function`` (at any depth of its stack)."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code is function.__code__:
            return True
        frame = frame.f_back
    return False


def _start(target):
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_fork_waits_for_the_export_in_flight():
    """hold_for_fork() returns only once the export that was in flight has ended, and
    then says that nothing was in flight at the fork."""
    gate, held = ExportGate(), threading.Event()

    def fork():
        gate.hold_for_fork(LIMIT_S)
        held.set()
        gate.release_after_fork()

    with gate:
        forker = _start(fork)
        wait_until(lambda: _inside(forker, threading.Condition.wait))  # it is waiting
        assert not held.is_set()
    assert held.wait(LIMIT_S)
    assert gate.clear_at_fork
    forker.join(LIMIT_S)


def test_no_export_starts_until_the_fork_is_done():
    """An export that begins while a fork holds the gate waits for release_after_fork()."""
    gate, exported = ExportGate(), threading.Event()
    gate.hold_for_fork(LIMIT_S)

    def export():
        with gate:
            exported.set()

    exporter = _start(export)
    wait_until(lambda: _inside(exporter, ExportGate.__enter__))
    assert not exported.is_set()
    gate.release_after_fork()
    assert exported.wait(LIMIT_S)
    exporter.join(LIMIT_S)


def test_a_fork_gives_up_after_its_limit_and_says_so():
    """An export that does not end within the limit: the fork goes on, recorded as not
    clear, and the child's reset reports it and starts the gate afresh."""
    gate = ExportGate()
    gate.__enter__()  # an export thread of the parent's, which the child does not have
    gate.hold_for_fork(0.0)
    assert not gate.clear_at_fork
    assert gate.reset_in_child() is False
    # The child's gate: nothing in flight, not forking, its lock free.
    gate.hold_for_fork(0.0)
    assert gate.clear_at_fork
    gate.release_after_fork()


def test_the_parent_exports_again_after_a_fork():
    """After release_after_fork() the gate is as before: exports enter and leave, and the
    next fork finds it idle."""
    gate = ExportGate()
    gate.hold_for_fork(LIMIT_S)
    gate.release_after_fork()
    with gate, gate:  # two exporters at once (spans and metrics) are fine
        pass
    gate.hold_for_fork(0.0)
    assert gate.clear_at_fork
    gate.release_after_fork()


@pytest.mark.parametrize("value", ["0", "false", "False", "FALSE", "f", "n", "no", "NO", " 0"])
def test_grpc_is_unusable_in_a_child_when_its_fork_handling_is_off(monkeypatch, value):
    """Each spelling with which gRPC turns its fork handling off (measured to hang or
    crash a child that calls into gRPC)."""
    monkeypatch.setenv("GRPC_ENABLE_FORK_SUPPORT", value)
    assert not usable_in_child(clear_at_fork=True)


@pytest.mark.parametrize("value", [None, "", "1", "true", "yes", "off", "disabled"])
def test_grpc_is_usable_in_a_child_when_its_fork_handling_is_on(monkeypatch, value):
    """Unset, true, and values gRPC does not read as a boolean (it keeps its default)."""
    if value is None:
        monkeypatch.delenv("GRPC_ENABLE_FORK_SUPPORT", raising=False)
    else:
        monkeypatch.setenv("GRPC_ENABLE_FORK_SUPPORT", value)
    assert usable_in_child(clear_at_fork=True)
    assert not usable_in_child(clear_at_fork=False)  # an export was inside gRPC


def _grpc_settings():
    return resolve({"endpoint": "http://127.0.0.1:4317", "protocol": "grpc"}, environ={})


def test_every_grpc_exporter_built_is_kept_apart_from_forks(monkeypatch):
    """Spans, metrics and logs over gRPC: each export and each shutdown runs with the
    gate occupied (so that a fork waits for it)."""
    settings = _grpc_settings()
    built = [
        exporters.span_exporter(settings),
        exporters.metric_exporter(settings),
        logs.log_exporter(settings),
    ]
    assert [type(e) for e in built] == [GrpcSpanExporter, GrpcMetricExporter, GrpcLogExporter]
    seen = []

    def record(*_, **__):
        seen.append(grpc_fork.GATE._exporting)

    for exporter in built:
        base = type(exporter).__mro__[2]  # the SDK's exporter class
        monkeypatch.setattr(base, "export", record)
        monkeypatch.setattr(base, "shutdown", record)
        exporter.export([])
        exporter.shutdown()
    assert [1] * 6 == seen
    assert 0 == grpc_fork.GATE._exporting


def test_http_exporters_are_not_gated():
    """Only gRPC needs the gate: HTTP exports never hold a fork back."""
    settings = resolve({"endpoint": "http://127.0.0.1:4318"}, environ={})
    assert not isinstance(exporters.span_exporter(settings), GrpcSpanExporter)


def test_the_pipelines_configure_builds_export_through_the_gate():
    """The span processor and metric reader configure() builds for gRPC wrap the gated
    exporters (the counting wrappers stand around them)."""
    settings = _grpc_settings()
    processor = providers.build_span_processor(settings)
    meter_provider = providers.build_meter_provider(settings, Resource.create({}))
    try:
        assert isinstance(processor.span_exporter.inner, GrpcSpanExporter)
        (reader,) = rewire.metric_readers(meter_provider)
        assert isinstance(reader._exporter.inner, GrpcMetricExporter)
    finally:
        processor.shutdown()
        meter_provider.shutdown()
