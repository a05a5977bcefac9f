"""The shipped Prometheus rules pass promtool: syntax, and their unit tests.

The unit tests (rules/autobot-apm.rules.test.yml) feed series shaped like the library's
and state which alerts fire; this module runs them and checks they cover every alert.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
RULES = RULES_DIR / "autobot-apm.rules.yml"
RULE_TESTS = RULES_DIR / "autobot-apm.rules.test.yml"
ALERTS = {
    "ApiErrorRateHigh", "ApiLatencyHigh", "DatabaseOperationsSlow",
    "ConnectionPoolNearlyExhausted", "CacheHitRatioLow", "HostCpuHigh", "HostMemoryHigh",
    "HostDiskFull", "GpuTemperatureHigh", "GpuMemoryPressure", "TelemetryDropped",
}  # fmt: skip


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (apt-get install prometheus): NOT RUN")
    return binary


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=RULES_DIR, capture_output=True, text=True, timeout=60, check=False
    )


class TestPromtool:
    def test_check_rules(self, promtool: str) -> None:
        """promtool check rules accepts the file and finds every rule."""
        checked = run(promtool, "check", "rules", str(RULES))
        assert 0 == checked.returncode, checked.stdout + checked.stderr
        assert "SUCCESS: 19 rules found" in checked.stdout

    def test_unit_tests_pass(self, promtool: str) -> None:
        """promtool test rules runs the unit tests, and they pass."""
        tested = run(promtool, "test", "rules", str(RULE_TESTS))
        assert 0 == tested.returncode, tested.stdout + tested.stderr
        assert "SUCCESS" in tested.stdout


class TestCoverage:
    def test_the_expected_alerts_are_shipped(self) -> None:
        """The rules file defines exactly the documented alerts."""
        assert ALERTS == set(re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.M))

    def test_every_alert_has_a_firing_test(self) -> None:
        """Each alert is expected to fire in at least one unit test."""
        tests = RULE_TESTS.read_text()
        tested = set(re.findall(r"alertname: (\w+)\n\s+eval_time: \w+\n\s+exp_alerts:\n", tests))
        assert set() == ALERTS - tested
