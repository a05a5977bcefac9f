"""The deployment files hang together: Prometheus' config, and the two Collector configs.

No Collector can be installed here, so the Collector files are checked for what breaks
a Collector at start-up (a pipeline naming a component that is not defined) and for the
choices the deployment guide relies on. Prometheus' config is checked by promtool.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COLLECTORS = ("otel-collector-agent.yaml", "otel-collector-gateway.yaml")
SERVICES = ("frontend", "backend", "cache", "llm", "worker")
SECTIONS = {"receivers": "receivers", "processors": "processors", "exporters": "exporters"}


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return document


def pipelines(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = config["service"]["pipelines"]
    return found


class TestPrometheusConfig:
    def test_promtool_accepts_config_and_rules(self) -> None:
        """promtool check config passes, rule file included."""
        promtool = shutil.which("promtool")
        if promtool is None:
            pytest.skip("promtool is not installed (apt-get install prometheus): NOT RUN")
        checked = subprocess.run(
            [promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert 0 == checked.returncode, checked.stdout + checked.stderr
        assert "1 rule files found" in checked.stdout

    def test_gateway_scrape_keeps_the_service_as_job(self) -> None:
        """honor_labels keeps job=service.name from the collector; the rules group by job."""
        jobs = load("prometheus.yml")["scrape_configs"]
        assert [True] == [job.get("honor_labels") for job in jobs]


class TestCollectorConfigs:
    @pytest.mark.parametrize("name", COLLECTORS)
    def test_pipelines_use_defined_components(self, name: str) -> None:
        """Every receiver, processor and exporter a pipeline names is defined."""
        config = load(name)
        undefined = {
            (signal, component)
            for signal, pipeline in pipelines(config).items()
            for section in SECTIONS
            for component in pipeline.get(section, [])
            if component not in config.get(section, {})
        }
        assert set() == undefined
        assert set() == set(config["service"].get("extensions", [])) - set(config["extensions"])

    @pytest.mark.parametrize("name", COLLECTORS)
    def test_memory_limiter_first_and_batch_last(self, name: str) -> None:
        """memory_limiter refuses data before anything else; batch comes last."""
        orders = [pipeline["processors"] for pipeline in pipelines(load(name)).values()]
        assert all(p[0] == "memory_limiter" and p[-1] == "batch" for p in orders)

    @pytest.mark.parametrize("name", COLLECTORS)
    def test_traces_and_metrics_pipelines(self, name: str) -> None:
        """Both collectors carry traces and metrics."""
        assert {"traces", "metrics"} <= set(pipelines(load(name)))

    def test_agent_listens_on_loopback_only(self) -> None:
        """Services reach their agent over loopback; the agent is not open to the network."""
        protocols = load(COLLECTORS[0])["receivers"]["otlp"]["protocols"]
        hosts = {settings["endpoint"].rpartition(":")[0] for settings in protocols.values()}
        assert {"127.0.0.1"} == hosts

    def test_agent_forwards_to_the_gateway_over_tls(self) -> None:
        """The hop across the network is encrypted and queued while the gateway is away."""
        exporters = load(COLLECTORS[0])["exporters"]
        [gateway] = exporters.values()
        assert "ca_file" in gateway["tls"]
        assert gateway["sending_queue"]["enabled"]

    def test_gateway_sends_traces_to_a_store_and_metrics_to_prometheus(self) -> None:
        """Traces leave by OTLP; metrics are exposed for Prometheus to scrape."""
        config = load(COLLECTORS[1])
        assert ["prometheus"] == pipelines(config)["metrics"]["exporters"]
        [traces] = pipelines(config)["traces"]["exporters"]
        assert traces.startswith("otlp_grpc")


class TestGuide:
    def test_guide_names_every_service_and_file(self) -> None:
        """The deployment guide uses the demo's service names and points to each file."""
        guide = (ROOT / "docs" / "deployment.md").read_text()
        missing = [word for word in (*SERVICES, *COLLECTORS, "prometheus.yml") if word not in guide]
        assert [] == missing
