"""The shipped rules and dashboard query only names autobot-apm really exports.

The catalogue of names is a real scrape: every tracker, the pool gauges, the self-metrics
and the host, process and NPU sampler (over a fake sysfs tree) record into a meter
provider whose Prometheus reader is scraped over HTTP. GPUs are absent here, so their
gauges are observed from the vendors' query tables, with the attribute set each row uses.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import autobot_apm as apm
from autobot_apm._sdk import health as _health
from autobot_apm._sdk.parsers.network import ListenAddress
from autobot_apm._sdk.prometheus import prometheus_reader
from autobot_apm._sdk.settings import resolve
from autobot_apm._sdk.state import STATE
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.llm import LlmOperation, track_llm
from autobot_apm.sampler import amd, nvidia
from autobot_apm.sampler._gpu import GpuIdentity, identity_attributes
from support import free_port, scrape

pytest.importorskip("opentelemetry.exporter.prometheus", reason="autobot-apm[prometheus]")
parser = pytest.importorskip("prometheus_client.parser")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "autobot-apm.rules.yml"
DASHBOARD = ROOT / "dashboards" / "autobot-apm.json"

# Names this library exports start with one of these; recording rules contain colons.
OUR_NAME = re.compile(
    r"(?<![\w:$])(?:http|db|autobot_apm|gen_ai|system|process|hw|messaging)_\w+(?![\w:])"
)
RECORDED_NAME = re.compile(r"(?<![\w$])[a-z_]+:[a-z0-9_]+:[a-z0-9_]+")
TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")
PROMETHEUS_LABELS = {"job", "instance"}


@dataclass(frozen=True)
class Catalogue:
    """Series names and label names seen in one scrape."""

    metrics: frozenset[str]
    labels: frozenset[str]


def fake_npu_tree(root: Path) -> Path:
    """A sysfs tree shaped like the intel_vpu driver's, with every file it may offer."""
    device = root / "accel0" / "device"
    device.mkdir(parents=True)
    (device / "uevent").write_text("DRIVER=intel_vpu\nPCI_SLOT_NAME=0000:00:0b.0\n")
    for name, value in (
        ("npu_busy_time_us", "1000"),
        ("npu_memory_utilization", "4096"),
        ("npu_current_frequency_mhz", "1400"),
        ("npu_max_frequency_mhz", "1850"),
    ):
        (device / name).write_text(value)
    return root


def observe_gpu_rows(provider: MeterProvider) -> None:
    """Each GPU query row's metrics, with the attributes that row is reported under."""
    meter = provider.get_meter("autobot_apm.sampler")
    identity = GpuIdentity(None, "GPU-0", "Test GPU", "1.0")
    seen: set[str] = set()
    for backend, queries in (("NVIDIA", nvidia.QUERIES), ("AMD", amd.QUERIES)):
        for query in queries:
            attributes = identity_attributes(identity, backend)[query.attributes]
            for spec in query.metrics:
                if spec.name in seen:
                    continue
                seen.add(spec.name)
                create = {
                    "gauge": meter.create_observable_gauge,
                    "updown": meter.create_observable_up_down_counter,
                    "counter": meter.create_observable_counter,
                }[spec.kind]
                create(spec.name, [constant(attributes)], spec.unit, spec.description)


def constant(attributes: Any) -> Any:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        yield Observation(1, dict(attributes))

    return observe


def exercise_trackers() -> None:
    """One call of each kind, a failure included, so every attribute appears."""
    apm.track_api(route="/ok", method="GET")(lambda: None)()
    with apm.track_api(route="/fail", method="POST") as op:
        op.status(503)
    with apm.track_database("postgresql", query="SELECT * FROM orders WHERE id = 1") as db:
        db.rows(1)
    with apm.track_cache("sessions") as cache:
        cache.hit()

    @track_llm(provider="openai", model="gpt-4o-mini")
    def stream() -> Iterator[str]:
        yield "a"
        yield "b"  # a second chunk: time_per_output_chunk (latest conventions)
        apm.current_operation(LlmOperation).usage(input_tokens=10, output_tokens=2)

    list(stream())


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    address = ListenAddress("127.0.0.1", free_port())
    reader = prometheus_reader(address)
    assert reader is not None
    provider = MeterProvider(
        resource=Resource.create({"service.name": "catalogue"}), metric_readers=[reader]
    )
    # The latest GenAI conventions add names and rename none: this scrape has them all.
    settings = resolve(
        {"llm_prices": {"gpt-4o-mini": (0.15, 0.60)},
         "semconv_stability_opt_in": "gen_ai_latest_experimental"},
        environ={},
    )  # fmt: skip
    tracer = TracerProvider().get_tracer("autobot_apm")
    runtime = _runtime.Runtime(tracer, provider.get_meter("autobot_apm"), settings)
    previous = _runtime.install(runtime)
    pool = apm.observe_connection_pool("main", used=lambda: 1, idle=lambda: 1, max=lambda: 2)
    sampler = apm.start_sampler(
        host=True,
        process=True,
        gpu=False,
        npu=True,
        interval=0,
        npu_sysfs_root=str(fake_npu_tree(tmp_path_factory.mktemp("sysfs"))),
        meter_provider=provider,
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(STATE.health, "dropped", Counter({("spans", "queue_full"): 1}))
            _health.register_self_metrics(runtime.meter)
            exercise_trackers()
            observe_gpu_rows(provider)
            scrape(address)  # the first reading primes the NPU utilization
            text = scrape(address)
        yield catalogue_of(text)
    finally:
        sampler.stop()
        pool.close()
        _runtime.install(previous)
        provider.shutdown()


def catalogue_of(text: str) -> Catalogue:
    metrics: set[str] = set()
    labels: set[str] = set()
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            metrics.add(sample.name)
            labels.update(sample.labels)
    return Catalogue(frozenset(metrics), frozenset(labels))


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in document["panels"] for target in panel.get("targets", [])
    ]
    variables = [
        v["query"]["query"] for v in document["templating"]["list"] if v["type"] == "query"
    ]
    return queries + variables


def unknown_names(expression: str, catalogue: Catalogue) -> list[str]:
    known = catalogue.metrics | catalogue.labels
    return [name for name in OUR_NAME.findall(expression) if name not in known]


class TestCatalogue:
    @pytest.mark.parametrize(
        "name",
        [
            "http_server_request_duration_seconds_bucket",
            "db_client_connection_max",
            "autobot_apm_cache_operations_total",
            "autobot_apm_gen_ai_client_cost_total",
            "autobot_apm_telemetry_dropped_total",
            "system_filesystem_utilization",
            "hw_temperature_celsius",
            "hw_npu_utilization",
            "target_info",
        ],
    )
    def test_scrape_covers_every_part(self, catalogue: Catalogue, name: str) -> None:
        """The catalogue holds a series from each part that the rules and panels use."""
        assert name in catalogue.metrics


class TestRules:
    def test_expressions_name_exported_series_and_labels(self, catalogue: Catalogue) -> None:
        """Every metric and label name in a rule expression is exported."""
        unknown = {r.get("alert", r.get("record")): unknown_names(r["expr"], catalogue)
                   for r in rules()}  # fmt: skip
        assert {} == {rule: names for rule, names in unknown.items() if names}

    def test_annotations_use_labels_the_alert_has(self, catalogue: Catalogue) -> None:
        """$labels.x in an annotation is an exported label, or job / instance."""
        used = {
            label
            for rule in rules()
            for text in rule.get("annotations", {}).values()
            for label in TEMPLATE_LABEL.findall(text)
        }
        assert set() == used - catalogue.labels - PROMETHEUS_LABELS


class TestDashboard:
    def test_queries_name_exported_series_and_labels(self, catalogue: Catalogue) -> None:
        """Every metric and label name in a panel or variable query is exported."""
        unknown = {q: unknown_names(q, catalogue) for q in dashboard_queries()}
        assert {} == {query: names for query, names in unknown.items() if names}

    def test_recorded_series_are_defined_by_the_rules(self) -> None:
        """A panel reading a recording rule's series reads one the rules file defines."""
        recorded = {rule["record"] for rule in rules() if "record" in rule}
        used = {name for query in dashboard_queries() for name in RECORDED_NAME.findall(query)}
        assert used
        assert set() == used - recorded
