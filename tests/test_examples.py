"""Every script in examples/ runs to the end, on loopback only, and exits 0."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import free_port

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
TIMEOUT = 60
# Optional extras an example needs: without them it is skipped, loudly.
NEEDS = {"prometheus_app.py": "opentelemetry.exporter.prometheus"}


def example_environment() -> dict[str, str]:
    """No OTEL_* or AUTOBOT_APM_* from the shell, and a free loopback Prometheus port."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "AUTOBOT_APM_")) or key == "AUTOBOT_APM_STRICT"
    }
    env["AUTOBOT_APM_PROMETHEUS"] = f"127.0.0.1:{free_port()}"
    return env


class TestExamples:
    def test_examples_exist(self) -> None:
        """The examples the documentation points to are there."""
        assert {"quickstart.py", "prometheus_app.py"} <= {script.name for script in SCRIPTS}

    @pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.name)
    def test_runs(self, script: Path, tmp_path: Path) -> None:
        """The script exits 0 within the time limit."""
        module = NEEDS.get(script.name)
        if module is not None and importlib.util.find_spec(module) is None:
            pytest.skip(f"{script.name} needs {module} (an optional extra): NOT RUN")
        result = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, env=example_environment(),
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        assert 0 == result.returncode, result.stdout + result.stderr
