"""Requests per second and latency of FastAPI under uvicorn, instrumented several ways.

One uvicorn process per mode (see ``_app.py``), all started up front on loopback, one
worker each, no access log. Each round puts load on every server in turn (shuffled),
with 1 and then 16 keep-alive connections, and each figure is compared with the
uninstrumented server measured in the same round. The load generator runs in this
process and records every request's latency; the servers export their spans over
OTLP/HTTP to a sink process that discards them. Each server also records its
garbage-collection pauses during the measured load (``_collections.py``), reported by
generation beside the uninstrumented server's; ``--gc-freeze`` has every server call
``gc.freeze()`` once its app is built, as an application can at start-up.

    python -m benchmarks.bench_middleware [--quick] [--seconds S] [--rounds N] [--gc-freeze]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ._collections import GENERATIONS, Collections, request_report
from ._harness import verdict
from ._loadgen import Load, generate
from ._peers import CONTRIB_FASTAPI, installed
from ._sink import running_sink

HOST = "127.0.0.1"
PATH = "/items/42"
CONNECTIONS = (1, 16)
ROOT = Path(__file__).resolve().parents[1]
LABELS = {
    "bare": "uninstrumented (FastAPI telemetry off)",
    "fastapi": "FastAPI native telemetry (defaults)",
    "contrib": "official OpenTelemetry FastAPI instrumentation",
    "minimal": "hand-written one-span middleware",
    "apm": "autobot-apm instrument_fastapi",
    "apm_add": "autobot-apm app.add_middleware(APMMiddleware)",
    "apm_wrap": "autobot-apm APMMiddleware(app) around it",
}


@dataclass
class Burst:
    """One load run against one server: throughput, latencies, server CPU per request."""

    load: Load
    cpu_us_per_request: float


@dataclass
class Server:
    mode: str
    port: int
    process: subprocess.Popen[bytes]
    collections_file: Path
    bursts: dict[int, list[Burst]] = field(default_factory=dict)
    # Collections and their pauses, over the measured load.
    collections: Collections = field(default_factory=Collections)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start(mode: str, endpoint: str | None, folder: Path, freeze: bool = False) -> Server:
    port = free_port()
    collections_file = folder / f"{mode}.json"
    environment = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_OTLP_ENDPOINT": endpoint or "",
        "BENCH_GC_FILE": str(collections_file),
        "BENCH_GC_FREEZE": "1" if freeze else "",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks._app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=environment)
    return Server(mode, port, process, collections_file)


def wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the {server.mode} server exited with {server.process.returncode}")
        try:
            if generate(HOST, server.port, PATH, 1, 0.01).latencies_ns:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the {server.mode} server did not answer within {timeout:.0f} s")


def burst(server: Server, connections: int, seconds: float) -> Burst:
    cpu_before = server.cpu_seconds()
    load = generate(HOST, server.port, PATH, connections, seconds)
    cpu = server.cpu_seconds() - cpu_before
    requests = max(1, len(load.latencies_ns))
    return Burst(load, cpu / requests * 1e6)


def available_modes(quick: bool) -> list[str]:
    if quick:  # the smoke run only checks that servers start and answer
        return ["bare", "apm"]
    modes = ["bare", "fastapi", "contrib", "minimal", "apm", "apm_add", "apm_wrap"]
    if not installed(CONTRIB_FASTAPI, "opentelemetry-instrumentation-fastapi"):
        modes.remove("contrib")
    return modes


def measure(
    modes: list[str],
    seconds: float,
    rounds: int,
    warmup: float,
    export: bool = True,
    freeze: bool = False,
) -> list[Server]:
    with running_sink() as endpoints, tempfile.TemporaryDirectory() as folder:
        endpoint = endpoints["http"] if export else None
        servers = [start(mode, endpoint, Path(folder), freeze) for mode in modes]
        try:
            for server in servers:
                wait_ready(server)
                generate(HOST, server.port, PATH, 16, warmup)  # first requests build caches
                # Forget the warm-up's collections (import and first-request garbage).
                request_report(server.process.pid, server.collections_file, 1)
            order = list(servers)
            shuffler = random.Random(2)
            for _ in range(rounds):
                for connections in CONNECTIONS:
                    shuffler.shuffle(order)
                    for server in order:
                        result = burst(server, connections, seconds)
                        server.bursts.setdefault(connections, []).append(result)
            for server in servers:
                server.collections = request_report(server.process.pid, server.collections_file, 2)
        finally:
            for server in servers:
                server.process.terminate()
            for server in servers:
                try:
                    server.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.process.kill()
    return servers


def per_round(server: Server, bare: Server, connections: int, metric: str) -> list[float]:
    """The per-round ratio of ``metric`` between ``server`` and the bare server."""
    pairs = zip(server.bursts[connections], bare.bursts[connections], strict=True)
    if metric == "rps":
        return [a.load.requests_per_second / b.load.requests_per_second for a, b in pairs]
    return [a.load.percentile_ms(0.99) / b.load.percentile_ms(0.99) for a, b in pairs]


def report(servers: list[Server]) -> str:
    bare = next(s for s in servers if s.mode == "bare")
    lines = [
        "#### FastAPI `GET /items/{id}`, uvicorn, one process (medians over rounds)",
        "",
        "| server | conns | req/s | share of bare req/s | p50 ms | p99 ms | p99 x bare "
        "| server CPU µs/req | CPU added µs/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for connections in CONNECTIONS:
        base_cpu = statistics.median(b.cpu_us_per_request for b in bare.bursts[connections])
        for server in servers:
            bursts = server.bursts[connections]
            cpu = statistics.median(b.cpu_us_per_request for b in bursts)
            lines.append(
                f"| {LABELS[server.mode]} | {connections} "
                f"| {statistics.median(b.load.requests_per_second for b in bursts):.0f} "
                f"| {statistics.median(per_round(server, bare, connections, 'rps')):.0%} "
                f"| {statistics.median(b.load.median_ms for b in bursts):.2f} "
                f"| {statistics.median(b.load.percentile_ms(0.99) for b in bursts):.2f} "
                f"| {statistics.median(per_round(server, bare, connections, 'p99')):.2f} "
                f"| {cpu:.0f} | {cpu - base_cpu:.0f} |"
            )
    errors = sum(b.load.errors for s in servers for bs in s.bursts.values() for b in bs)
    lines += ["", *budgets(servers, bare), f"- failed responses: {errors}", ""]
    lines += collection_table(servers)
    return "\n".join(lines)


def collection_table(servers: list[Server]) -> list[str]:
    """Collections and their pauses in each server over the whole measured load."""
    lines = [
        "#### Garbage collection in each server during the measured load (all rounds)",
        "",
        "| server | requests | gen-0 per 1000 req | gen-1 per 1000 req | of these on other "
        "threads | gen-2 collections | gen-2 pause median ms | gen-2 pause max ms "
        "| all pauses ms per 1000 req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server in servers:
        requests = sum(len(b.load.latencies_ns) for bs in server.bursts.values() for b in bs)
        per_thousand = 1000 / max(1, requests)
        pauses, elsewhere = server.collections.pauses, server.collections.elsewhere
        gen2 = pauses.get(2, [])
        young = len(pauses.get(0, [])) + len(pauses.get(1, []))
        share = f"{(elsewhere.get(0, 0) + elsewhere.get(1, 0)) / young:.0%}" if young else "-"
        total = sum(sum(pauses.get(g, [])) for g in GENERATIONS)
        median = f"{statistics.median(gen2) * 1e3:.1f}" if gen2 else "-"
        longest = f"{max(gen2) * 1e3:.1f}" if gen2 else "-"
        lines.append(
            f"| {LABELS[server.mode]} | {requests} "
            f"| {len(pauses.get(0, [])) * per_thousand:.1f} "
            f"| {len(pauses.get(1, [])) * per_thousand:.2f} | {share} | {len(gen2)} "
            f"| {median} | {longest} | {total * 1e3 * per_thousand:.1f} |"
        )
    return lines


def budgets(servers: list[Server], bare: Server) -> list[str]:
    found = {s.mode: s for s in servers}
    apm = found["apm"]
    share = statistics.median(per_round(apm, bare, 16, "rps"))
    p99 = statistics.median(per_round(apm, bare, 1, "p99"))
    lines = [
        verdict("APMMiddleware share of bare req/s (16 conns)", share, 0.75, at_least=True),
        verdict("APMMiddleware p99 vs bare (1 conn)", p99, 2.0),
    ]
    for other in ("apm_add", "apm_wrap"):
        if other in found:  # every documented arrangement costs what instrument_fastapi does
            pairs = zip(found[other].bursts[16], apm.bursts[16], strict=True)
            versus = statistics.median(
                a.load.requests_per_second / b.load.requests_per_second for a, b in pairs
            )
            label = f"{LABELS[other]} req/s vs instrument_fastapi (16 conns)"
            lines.append(verdict(label, versus, 0.9, at_least=True))
    if "contrib" in found:
        pairs = zip(apm.bursts[16], found["contrib"].bursts[16], strict=True)
        versus = statistics.median(
            a.load.requests_per_second / c.load.requests_per_second for a, c in pairs
        )
        lines.append(
            verdict(
                "APMMiddleware req/s vs official instrumentation (16 conns)",
                versus,
                2.0,
                at_least=True,
            )
        )
    return lines


def run(
    quick: bool,
    seconds: float | None = None,
    rounds: int | None = None,
    export: bool = True,
    freeze: bool = False,
) -> str:
    seconds = seconds or (0.2 if quick else 4.0)
    rounds = rounds or (1 if quick else 3)
    warmup = 0.1 if quick else 1.0
    servers = measure(available_modes(quick), seconds, rounds, warmup, export, freeze)
    return report(servers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: short bursts")
    parser.add_argument("--seconds", type=float, help="length of each burst (default 4)")
    parser.add_argument("--rounds", type=int, help="rounds over all servers (default 3)")
    parser.add_argument(
        "--no-export",
        action="store_true",
        help="providers without an exporter: spans are made, never sent",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="every server calls gc.freeze() once its app is built",
    )
    args = parser.parse_args()
    print(
        run(args.quick, args.seconds, args.rounds, export=not args.no_export, freeze=args.gc_freeze)
    )


if __name__ == "__main__":
    main()
