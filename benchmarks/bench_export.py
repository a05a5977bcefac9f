"""Export: spans per second to a local OTLP receiver, and what a dead collector costs.

The library is configured as a user would (``apm.configure(endpoint=..., protocol=...)``)
against the embedded OTLP receiver, which runs in a process of its own. Counts come
from the library's own accounting (``apm.telemetry_health()``): spans the exporter
delivered, spans dropped because the queue was full or an export failed.

1. Throughput: tracked calls as fast as this thread can make them, then at a paced
   10,000 calls/s; exported and dropped spans per second, for gRPC and HTTP.
2. Collector down: the latency of each tracked call while the receiver is up, stopped
   (connection refused) and hanging (accepts, never answers), and how long
   ``apm.shutdown()`` takes in each case.

    python -m benchmarks.bench_export [--quick]
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime

from ._harness import quick_command_line, verdict
from ._sink import running_sink

ROOT = Path(__file__).resolve().parents[1]
PACED_RATE = 10_000
BUDGET_SPANS_PER_SECOND = 10_000


class Collector:
    """The receiver process (``_collector.py``), driven one command at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._collector"],
            cwd=ROOT,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.endpoints: dict[str, str] = json.loads(self._read())

    def _read(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("quit")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextlib.contextmanager
def collector() -> Iterator[Collector]:
    running = Collector()
    try:
        yield running
    finally:
        running.close()


@contextlib.contextmanager
def configured(endpoint: str, protocol: str) -> Iterator[None]:
    apm.configure(
        service_name="bench-export",
        endpoint=endpoint,
        protocol=protocol,
        metric_export_interval=3600,
    )
    try:
        yield
    finally:
        apm.shutdown()


@apm.track_database("postgresql", operation="SELECT", collection="users")
def tracked() -> int:
    return 1


def counts() -> tuple[int, int]:
    """(spans exported, spans dropped) so far in this process, by the library's count."""
    health = apm.telemetry_health()
    dropped = sum(n for key, n in health["dropped"].items() if key.startswith("traces."))
    return int(health["exported"].get("traces", 0)), int(dropped)


@dataclass
class Rates:
    """Per second of production: tracked calls made, spans exported and dropped."""

    made: float
    exported: float
    dropped: float
    shutdown_seconds: float


def produce(seconds: float, rate: float | None) -> int:
    """Make tracked calls for ``seconds``: flat out, or paced at ``rate`` per second."""
    made = 0
    started = time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline:
        if rate is not None and made >= (now - started) * rate:
            time.sleep(0.0005)
            continue
        for _ in range(100):
            tracked()
        made += 100
    return made


def throughput(endpoint: str, protocol: str, seconds: float, rate: float | None) -> Rates:
    """Spans exported and dropped per second while tracked calls are being made."""
    with configured(endpoint, protocol):
        exported, dropped = counts()
        made = produce(seconds, rate)
        exported_now, dropped_now = counts()
        started = time.perf_counter()
    shutdown_seconds = time.perf_counter() - started  # the flush of what is still queued
    return Rates(
        made / seconds,
        (exported_now - exported) / seconds,
        (dropped_now - dropped) / seconds,
        shutdown_seconds,
    )


def sample_batch(size: int = 512) -> list[Any]:
    """``size`` finished spans of the benchmark's tracked call, as the exporter gets them."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from autobot_apm.testing import Capture

    capture = Capture()
    memory = InMemorySpanExporter()
    capture.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    previous = _runtime.install(capture.runtime)
    try:
        for _ in range(size):
            tracked()
    finally:
        _runtime.install(previous)
        capture.close()
    return list(memory.get_finished_spans())


def exporter_capacity(endpoint: str, protocol: str, seconds: float) -> float:
    """Spans per second one exporter delivers back to back (encode, send, acknowledge)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter: Any = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPSpanExporter,
        )

        exporter = HTTPSpanExporter(endpoint=f"{endpoint}/v1/traces")
    batch = sample_batch()
    sent = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if exporter.export(batch).name != "SUCCESS":
            raise RuntimeError(f"the receiver refused an export over {protocol}")
        sent += len(batch)
    elapsed = time.perf_counter() - started
    exporter.shutdown()
    return sent / elapsed


def call_latencies(seconds: float, rate: float) -> list[int]:
    """The wall time of each tracked call, paced at ``rate`` calls per second."""
    latencies = []
    started = time.perf_counter()
    deadline = started + seconds
    while (now := time.perf_counter()) < deadline:
        if len(latencies) >= (now - started) * rate:
            time.sleep(0.0005)
            continue
        begin = time.perf_counter_ns()
        tracked()
        latencies.append(time.perf_counter_ns() - begin)
    return latencies


def percentile_us(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def collector_state(rx: Collector, state: str, seconds: float, cap: float | None) -> dict[str, Any]:
    """Tracked-call latencies and shutdown time with the collector ``state``.

    "no exporter" is the reference: spans are made and dropped at once, so what the
    other states add to a call's latency is export's doing.
    """
    if state == "stopped":
        rx.ask("stop")
    elif state == "hanging":
        rx.ask("mode hang")
    if state == "no exporter":
        apm.configure(service_name="bench-export", exporter="none", metric_export_interval=3600)
    else:
        apm.configure(
            service_name="bench-export",
            endpoint=rx.endpoints["grpc"],
            protocol="grpc",
            metric_export_interval=3600,
        )
    _, dropped = counts()
    latencies = call_latencies(seconds, rate=5_000)
    _, dropped_now = counts()
    started = time.perf_counter()
    flushed = apm.shutdown(cap)
    shutdown_seconds = time.perf_counter() - started
    rx.ask("mode ok")
    if state == "stopped":
        rx.ask("start")
    return {
        "state": state,
        "calls": len(latencies),
        "dropped": dropped_now - dropped,
        "p50": percentile_us(latencies, 0.5),
        "p99": percentile_us(latencies, 0.99),
        "p999": percentile_us(latencies, 0.999),
        "max": max(latencies) / 1000,
        "shutdown": shutdown_seconds,
        "flushed": flushed,
    }


def throughput_rows(target: str, endpoints: dict[str, str], seconds: float) -> list[str]:
    """One row per protocol and load, against ``endpoints``."""
    rows = []
    for protocol, key in (("grpc", "grpc"), ("http/protobuf", "http")):
        for label, rate in (("flat out", None), (f"paced {PACED_RATE}/s", PACED_RATE)):
            rates = throughput(endpoints[key], protocol, seconds, rate)
            rows.append(
                f"| {target} | {protocol} | {label} | {rates.made:.0f} "
                f"| {rates.exported:.0f} | {rates.dropped:.0f} "
                f"| {rates.shutdown_seconds:.2f} |"
            )
        capacity = exporter_capacity(endpoints[key], protocol, seconds)
        rows.append(
            f"| {target} | {protocol} | exporter alone, 512-span batches | - "
            f"| {capacity:.0f} | - | - |"
        )
    return rows


def best_rate(rows: list[str]) -> float:
    """The highest exported spans/s of the tracked-call rows (the fifth column)."""
    return max(float(row.split("|")[5]) for row in rows if "exporter alone" not in row)


def run(quick: bool) -> str:
    seconds = 0.25 if quick else 4.0
    lines = [
        "#### Export throughput (library defaults: queue 2048, batch 512, one process)",
        "",
        "| collector | protocol | load | tracked calls/s | spans exported/s | spans dropped/s "
        "| final flush s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    with running_sink() as endpoints:
        sink_rows = throughput_rows("discarding sink", endpoints, seconds)
    with collector() as rx:
        # The smoke run skips the second target: same code, twice the time.
        receiver_rows = [] if quick else throughput_rows("OTLPReceiver", rx.endpoints, seconds)
        received = rx.ask("count")
        lines += [
            *sink_rows,
            *receiver_rows,
            "",
            verdict(
                "sustained export to the sink, spans/s",
                best_rate(sink_rows),
                BUDGET_SPANS_PER_SECOND,
                " spans/s",
                at_least=True,
            ),
            f"- OTLPReceiver counted {received} spans in all",
            "",
        ]
        cap = 0.2 if quick else None  # quick: do not wait out the real 5 s cap
        lines += down_table(
            [
                collector_state(rx, state, seconds, cap)
                for state in ("no exporter", "up", "stopped", "hanging")
            ]
        )
    return "\n".join(lines)


def down_table(states: list[dict[str, Any]]) -> list[str]:
    reference = states[0]
    lines = [
        "#### Collector down: tracked-call latency (paced 5,000 calls/s, gRPC) and shutdown",
        "",
        "| collector | calls | p50 µs | p99 µs | p99.9 µs | max µs | p99 x no exporter "
        "| spans dropped (counted) | shutdown() s | flushed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for state in states:
        lines.append(
            f"| {state['state']} | {state['calls']} | {state['p50']:.1f} | {state['p99']:.1f} "
            f"| {state['p999']:.1f} | {state['max']:.0f} | {state['p99'] / reference['p99']:.2f} "
            f"| {state['dropped']} | {state['shutdown']:.2f} | {state['flushed']} |"
        )
    return lines


def main() -> None:
    quick_command_line(__doc__, run, "smoke mode: short runs")


if __name__ == "__main__":
    main()
