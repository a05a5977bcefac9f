"""The benchmarks still run: their quick mode completes and prints every table.

Timings are never asserted; the quick mode's figures mean nothing. This only keeps the
benchmarks from rotting as the library changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "## Tracked calls",
    "## Streaming LLM calls",
    "## Middleware, in process",
    "## Middleware under uvicorn",
    "## Export",
    "## OTLP span encoding",
    "## Tail latency while exporting",
    "## Garbage collection per call and per series",
    "## Sampler collection cost",
)


@pytest.fixture(scope="module")
def quick_report() -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-peers"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.e2e
class TestQuickMode:
    def test_completes(self, quick_report):
        """python -m benchmarks --quick exits with 0."""
        assert 0 == quick_report.returncode, quick_report.stdout[-4000:] + quick_report.stderr

    def test_prints_every_section(self, quick_report):
        """Each benchmark contributes its section to the report."""
        missing = [section for section in SECTIONS if section not in quick_report.stdout]
        assert [] == missing

    def test_prints_tables_against_the_floor(self, quick_report):
        """The tracked-call table compares with the hand-written floor, as a ratio."""
        assert "| variant | µs per call (median) |" in quick_report.stdout
        assert "hand-written: start_span + attach + histogram" in quick_report.stdout

    def test_reports_collections_beside_the_uninstrumented_server(self, quick_report):
        """The middleware benchmark reports each server's collections, bare one included."""
        table = quick_report.stdout.split("#### Garbage collection in each server")[1]
        assert "| uninstrumented (FastAPI telemetry off) |" in table
        assert "| autobot-apm instrument_fastapi |" in table

    def test_reports_garbage_per_request_beside_the_floor(self, quick_report):
        """The GC benchmark counts per request for the bare app, the floor and ours."""
        table = quick_report.stdout.split("#### Per HTTP request")[1]
        rows = ["uninstrumented (FastAPI telemetry off)", "hand-written one-span middleware"]
        rows.append("autobot-apm instrument_fastapi")
        assert [] == [row for row in rows if f"| {row} |" not in table]


@pytest.mark.e2e
def test_compare_times_a_copy_of_the_package_against_the_installed_one():
    """--compare loads a second copy of the package (here the same source) and times it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_trackers", "--quick", "--compare", "src"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert 0 == finished.returncode, finished.stderr[-4000:]
    assert "- decorator: candidate / installed = " in finished.stdout
