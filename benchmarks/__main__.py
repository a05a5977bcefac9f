"""Run every benchmark and print one Markdown report: ``python -m benchmarks [--quick]``.

Each benchmark runs in a process of its own, so that none inherits another's global
OpenTelemetry providers, peers (logfire, ddtrace) or garbage. ``--quick`` is the smoke
mode CI runs to keep the benchmarks working; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from ._machine import describe

ROOT = Path(__file__).resolve().parents[1]
# name -> (title, command after the interpreter)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "trackers": ("Tracked calls", ["-m", "benchmarks.bench_trackers"]),
    "llm": ("Streaming LLM calls", ["-m", "benchmarks.bench_llm"]),
    "asgi": ("Middleware, in process", ["-m", "benchmarks.bench_asgi"]),
    "middleware": ("Middleware under uvicorn", ["-m", "benchmarks.bench_middleware"]),
    "export": ("Export", ["-m", "benchmarks.bench_export"]),
    "encode": ("OTLP span encoding", ["-m", "benchmarks.bench_encode"]),
    "tail": ("Tail latency while exporting", ["-m", "benchmarks.bench_tail"]),
    "gc": ("Garbage collection per call and per series", ["-m", "benchmarks.bench_gc"]),
    "sampler": ("Sampler collection cost", ["benchmarks/bench_sampler.py"]),
    "startup": ("Start-up: import and configure()", ["-m", "benchmarks.bench_startup"]),
}
# Benchmarks that take --clock (the in-process, interleaved ones).
CLOCKED = {"trackers", "llm", "asgi", "encode"}
TIMEOUT_SECONDS = 600


def command(name: str, quick: bool, clock: str, peers: bool) -> list[str]:
    arguments = [sys.executable, *BENCHMARKS[name][1]]
    if quick:
        arguments.append("--quick")
    if name in CLOCKED:
        arguments += ["--clock", clock]
    if name == "trackers" and not peers:
        arguments.append("--no-peers")
    return arguments


def run_one(name: str, quick: bool, clock: str, peers: bool) -> tuple[str, bool]:
    """The benchmark's report (its standard output), and whether it succeeded."""
    started = time.monotonic()
    try:
        finished = subprocess.run(
            command(name, quick, clock, peers),
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{name}: gave up after {TIMEOUT_SECONDS} s", False
    output = finished.stdout.strip()
    if name == "sampler":  # plain text, not Markdown
        output = f"```\n{output}\n```"
    if finished.returncode != 0:
        output += f"\n\n{name} FAILED (exit {finished.returncode}):\n```\n{finished.stderr}\n```"
    took = time.monotonic() - started
    return f"## {BENCHMARKS[name][0]}\n\n{output}\n\n_({took:.0f} s)_", finished.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode (CI): tiny runs")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma list among: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="per-call timing: this thread's CPU time (default) or wall time",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip logfire and ddtrace")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    print(f"# autobot-apm benchmarks{' (quick smoke run: figures mean nothing)' * args.quick}")
    print(f"\n{describe()}\n", flush=True)
    failed = []
    for name in names:
        report, succeeded = run_one(name, args.quick, args.clock, not args.no_peers)
        print(report + "\n", flush=True)
        if not succeeded:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
