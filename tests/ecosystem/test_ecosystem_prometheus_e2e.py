"""A real Prometheus on loopback scrapes examples/prometheus_app.py and the shipped alert fires.

The rules are the shipped file with every ``for:`` shortened to one second; the
expressions Prometheus evaluates are exactly the shipped ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "autobot-apm.rules.yml"
DASHBOARD = ROOT / "dashboards" / "autobot-apm.json"
APP = ROOT / "examples" / "prometheus_app.py"
DEADLINE_SECONDS = 60.0
Process = subprocess.Popen[bytes]
# Dashboard rows the example app fills; the LLM, GPU and NPU rows stay empty here.
ROWS_WITH_DATA = ("Overview", "RED per route", "Database", "Cache", "Host")
# What Grafana would substitute: every service and route, a rate window of a minute.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": ".*", "$route": ".*"}

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: backend
    static_configs:
      - targets: ["127.0.0.1:{app_port}"]
"""


def fast_rules(text: str) -> str:
    """The shipped rules with each ``for:`` duration cut to 1 s."""
    shortened, count = re.subn(r"(?m)^(\s+)for: \S+$", r"\1for: 1s", text)
    assert count > 0, "the shipped rules have no for: clause left to shorten"
    return shortened


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
        return json.loads(response.read())


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """Call ``probe`` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            found = probe()
        except OSError:
            found = None  # not listening yet
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"gave up after {DEADLINE_SECONDS:.0f} s waiting for {what}")


def stop(process: Process) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start(command: list[str], log: Path, env: dict[str, str] | None = None) -> Process:
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_until_serving(what: str, process: Process, url: str, log: Path) -> None:
    """Wait for ``url`` to answer; fail at once, with the log, if the process died."""

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - loopback http
            return True

    wait_for(f"{what} at {url}", serving)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a Prometheus scraping the example app, both on loopback."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus): e2e NOT RUN")
    pytest.importorskip("opentelemetry.exporter.prometheus", reason="autobot-apm[prometheus]")
    work = tmp_path_factory.mktemp("prometheus")
    app_port, prometheus_port = free_port(), free_port()
    (work / "rules.yml").write_text(fast_rules(RULES.read_text()))
    (work / "prometheus.yml").write_text(
        PROMETHEUS_CONFIG.format(rules=work / "rules.yml", app_port=app_port)
    )
    app_env = {**os.environ, "AUTOBOT_APM_PROMETHEUS": f"127.0.0.1:{app_port}"}
    app = start([sys.executable, str(APP), "--seconds", "120"], work / "app.log", app_env)
    server = start(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        work / "prometheus.log",
    )
    base = f"http://127.0.0.1:{prometheus_port}"
    try:
        wait_until_serving("the example app", app, f"http://127.0.0.1:{app_port}/metrics",
                           work / "app.log")  # fmt: skip
        wait_until_serving("Prometheus", server, f"{base}/-/ready", work / "prometheus.log")
        yield base
    finally:
        stop(server)
        stop(app)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector of ``promql``; a PromQL error fails the test with its message."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        result: list[dict[str, Any]] = get_json(url)["data"]["result"]
    except urllib.error.HTTPError as exc:
        pytest.fail(f"Prometheus rejected {promql!r}: {exc.read().decode()}")
    return result


def dashboard_targets() -> list[tuple[str, str, str]]:
    """(row, panel, PromQL) of every query, with Grafana's variables filled in."""
    targets, row = [], ""
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        row = panel["title"] if panel["type"] == "row" else row
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            targets.append((row, panel["title"], expression))
    return targets


class TestPrometheusScrapesTheExample:
    def test_error_rate_alert_fires(self, prometheus: str) -> None:
        """ApiErrorRateHigh fires for job backend, which fails a quarter of its calls."""

        def firing() -> list[dict[str, Any]]:
            alerts = get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
            return [
                alert
                for alert in alerts
                if alert["labels"]["alertname"] == "ApiErrorRateHigh" and alert["state"] == "firing"
            ]

        alert = wait_for("ApiErrorRateHigh to fire", firing)[0]
        assert {"alertname": "ApiErrorRateHigh", "job": "backend", "severity": "critical"} == (
            alert["labels"]
        )
        assert 0.15 < float(alert["value"]) < 0.35

    def test_health_score_is_recorded(self, prometheus: str) -> None:
        """The health score recording rule gives backend a value between 0 and 100."""
        score = "job:autobot_apm_health:score"
        samples = wait_for(score, lambda: query(prometheus, score))
        assert ["backend"] == [sample["metric"]["job"] for sample in samples]
        assert 0 < float(samples[0]["value"][1]) < 100

    def test_resource_reaches_target_info(self, prometheus: str) -> None:
        """service.name of the resource is scraped as target_info{service_name=...}."""
        samples = wait_for("target_info", lambda: query(prometheus, "target_info"))
        assert "backend" == samples[0]["metric"]["service_name"]

    def test_dashboard_queries_run_and_show_the_example(self, prometheus: str) -> None:
        """Every panel query is valid PromQL; those of the rows the example fills have data."""
        unexpected = []
        for row, title, expression in dashboard_targets():
            if row in ROWS_WITH_DATA:
                wait_for(f"data for panel {title!r}", lambda e=expression: query(prometheus, e))
            elif query(prometheus, expression):
                unexpected.append(title)  # an LLM, GPU or NPU panel with data: not this app's
        assert [] == unexpected
