"""What ``import autobot_apm`` and ``configure()`` cost, each in a fresh interpreter.

Every variant runs in a process of its own (an import is only ever paid once), in a
shuffled order in each round, and reports the CPU time of its import and of its
configuration. The reference is importing the OpenTelemetry SDK and the OTLP/gRPC
exporter, which any OTLP-exporting set-up pays; logfire is measured beside us when it is
installed (``PYTHONPATH=/tmp/apm-peers``, see docs/performance.md).

    python -m benchmarks.bench_startup [--quick]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

from . import _peers
from ._harness import quartiles, quick_command_line

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "OTel SDK + OTLP/gRPC exporter modules"

# Each probe prints {"import": seconds, "configure": seconds} (CPU time of this process)
# and leaves with os._exit: no exit-time flush or shutdown is part of what is measured.
_PROBE = """
import json, os, time
started = time.process_time()
{imports}
imported = time.process_time()
{configure}
configured = time.process_time()
print(json.dumps({{"import": imported - started, "configure": configured - imported}}))
os._exit(0)
"""
# The OTLP endpoint is never reached: the exporters connect at their first export.
_ENDPOINT = "http://127.0.0.1:9"
VARIANTS: dict[str, tuple[str, str]] = {
    REFERENCE: (
        "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics\n"
        "import opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "pass",
    ),
    "import autobot_apm": ("import autobot_apm", "pass"),
    "autobot_apm: configure(exporter='otlp')": (
        "import autobot_apm",
        f"autobot_apm.configure(service_name='bench', exporter='otlp', endpoint='{_ENDPOINT}')",
    ),
    "autobot_apm: configure(exporter='none')": (
        "import autobot_apm",
        "autobot_apm.configure(service_name='bench', exporter='none')",
    ),
}
LOGFIRE = {
    "logfire: import + configure(send_to_logfire=False)": (
        "import logfire",
        "logfire.configure(send_to_logfire=False, console=False)",
    )
}


def probe(imports: str, configure: str) -> dict[str, float]:
    # Bytecode is written and used, as in an installed package: with
    # PYTHONDONTWRITEBYTECODE a source checkout would be compiled again on every import.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OTEL_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    finished = subprocess.run(
        [sys.executable, "-c", _PROBE.format(imports=imports, configure=configure)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    return figures


def run(quick: bool) -> str:
    variants = dict(VARIANTS)
    if _peers.installed("logfire", "logfire"):
        variants.update(LOGFIRE)
    rounds = 2 if quick else 15
    seconds: dict[str, dict[str, list[float]]] = {
        name: {"import": [], "configure": []} for name in variants
    }
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for name in order:  # a warm-up, not counted: writes the bytecode, fills the page cache
        probe(*variants[name])
    shuffler = random.Random(1)
    for _ in range(rounds):
        shuffler.shuffle(order)
        this_round = {name: probe(*variants[name]) for name in order}
        reference = this_round[REFERENCE]["import"]
        for name, figures in this_round.items():
            seconds[name]["import"].append(figures["import"])
            seconds[name]["configure"].append(figures["configure"])
            ratios[name].append((figures["import"] + figures["configure"]) / reference)
    lines = [
        f"#### Start-up, CPU time, median of {rounds} fresh interpreters each",
        "",
        f"| variant | import ms | configure() ms | (import + configure) x {REFERENCE} | IQR |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in variants:
        low, high = quartiles(ratios[name])
        lines.append(
            f"| {name} | {statistics.median(seconds[name]['import']) * 1000:.1f} "
            f"| {statistics.median(seconds[name]['configure']) * 1000:.1f} "
            f"| {statistics.median(ratios[name]):.2f} | {low:.2f}-{high:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    quick_command_line(__doc__, run, "smoke mode: two rounds")


if __name__ == "__main__":
    main()
