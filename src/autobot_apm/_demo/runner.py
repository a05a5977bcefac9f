"""``autobot-apm demo``: a small shop on loopback, traced end to end, in about ten seconds.

The steps: start an OTLP receiver in this process; start five services as separate
processes, each exporting to it; send a few requests to the frontend; wait for the
worker's queued jobs; stop the services (each flushes its telemetry as it exits); stop
the receiver; print two traces as trees and a summary of the metrics. Whatever happens,
Ctrl-C and errors included, nothing is left running.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from .._sdk.console.text import wants_color, write_text
from ..receiver import OTLPReceiver, ReceivedMetric, ReceivedSpan
from .cluster import SERVICES, Cluster, DemoError, service_command
from .progress import Progress
from .report import render_report
from .traffic import DEFAULT_REQUESTS, Outcome, describe, plan, send

JOB_WAIT_SECONDS = 10.0
INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C


def run(
    requests: int = DEFAULT_REQUESTS,
    *,
    color: bool | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the demo, writing to ``out`` (problems to ``err``); returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    color = wants_color(out) if color is None else color
    progress = Progress(out, live=_is_terminal(out), color=color)
    try:
        return _run(requests, progress, color, err)
    except DemoError as exc:
        write_text(err, f"autobot-apm demo failed: {exc}\n")
        return 1
    except KeyboardInterrupt:
        write_text(err, "interrupted; the services and the receiver are stopped\n")
        return INTERRUPTED


def _run(requests: int, progress: Progress, color: bool, err: TextIO) -> int:
    started = time.monotonic()
    receiver = OTLPReceiver(grpc=False)
    with progress.step("starting the OTLP receiver") as step:
        try:
            receiver.start()
        except OSError as exc:
            raise DemoError(f"the receiver could not listen on 127.0.0.1: {exc}") from exc
        step.done(f"OTLP receiver on {receiver.http_endpoint}: no collector needed")
    try:
        outcomes = _exercise(receiver, requests, progress)
        spans, metrics = receiver.spans, receiver.metrics
    finally:
        receiver.stop()
    write_text(progress.out, "\n" + render_report(spans, metrics, SERVICES, color=color) + "\n")
    problems = _problems(outcomes, spans, metrics)
    for problem in problems:
        write_text(err, f"autobot-apm demo: {problem}\n")
    seconds = time.monotonic() - started
    write_text(progress.out, f"\nDone in {seconds:.1f} s; nothing is left running.\n")
    return 1 if problems else 0


def _exercise(receiver: OTLPReceiver, requests: int, progress: Progress) -> list[Outcome]:
    """Start the services, drive the traffic, stop the services; the telemetry is in."""
    commands = {name: service_command(name, receiver.http_endpoint) for name in SERVICES}
    with Cluster(commands) as cluster:
        with progress.step(f"starting {len(SERVICES)} services") as step:
            cluster.start()
            ports = ", ".join(f"{child.name} :{child.port}" for child in cluster.children)
            step.done(f"{len(SERVICES)} services up: {ports}")
        with progress.step(f"sending {requests} requests") as step:
            outcomes = [send(cluster.urls["frontend"], call) for call in plan(requests)]
            step.done(describe(outcomes))
        with progress.step("waiting for the worker's queued jobs") as step:
            step.done(_wait_for_jobs(receiver, outcomes))
        with progress.step("stopping the services; each flushes its telemetry") as step:
            forced = cluster.stop()
            points = sum(len(metric.points) for metric in receiver.metrics)
            killed = f" ({', '.join(forced)} had to be killed)" if forced else ""
            spans = len(receiver.spans)
            step.done(f"services stopped{killed}; {spans} spans, {points} metric points received")
    return outcomes


def _wait_for_jobs(receiver: OTLPReceiver, outcomes: Sequence[Outcome]) -> str:
    """Bounded: each question answered queued one job; wait for their consumer spans."""
    wanted = sum(o.call.path == "/ask" and o.status == 200 for o in outcomes)
    # A timeout shows in the line returned; a stopping worker still finishes its queue.
    with contextlib.suppress(TimeoutError):
        receiver.wait_for_spans(lambda spans: _jobs(spans) >= wanted, timeout=JOB_WAIT_SECONDS)
    done = _jobs(receiver.spans)
    return f"the worker processed {done} of {wanted} queued jobs"


def _jobs(spans: Sequence[ReceivedSpan]) -> int:
    return sum(span.kind == "CONSUMER" for span in spans)


def _problems(
    outcomes: Sequence[Outcome], spans: Sequence[ReceivedSpan], metrics: Sequence[ReceivedMetric]
) -> list[str]:
    """What went wrong: unexpected answers, services that sent no spans or no metrics."""
    problems = [f"{o.call} answered {o.status}, expected {o.call.expected_status}"
                for o in outcomes if not o.as_expected]  # fmt: skip
    traced = {str(span.resource.get("service.name")) for span in spans}
    measured = {str(metric.resource.get("service.name")) for metric in metrics}
    for service in SERVICES:
        if service not in traced:
            problems.append(f"no spans arrived from {service}")
        if service not in measured:
            problems.append(f"no metrics arrived from {service}")
    return problems


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
