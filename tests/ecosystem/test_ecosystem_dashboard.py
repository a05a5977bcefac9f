"""The Grafana dashboard is well-formed: layout, data source, variables, and its sections.

Its queries are checked twice more: their names against a real scrape
(test_ecosystem_metric_names.py) and their PromQL against a real Prometheus holding the
example app's data (test_ecosystem_prometheus_e2e.py).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "autobot-apm.json"
GRID_WIDTH = 24
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SECTIONS = ["Overview", "RED per route", "Database", "Cache", "LLM", "Host", "GPU", "NPU"]
# Grafana's own variables, always defined.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range"}
VARIABLE = re.compile(r"\$\{?(\w+)")
# Units Grafana knows (a typo would show raw numbers).
UNITS = {"none", "short", "s", "percentunit", "reqps", "ops", "bytes", "celsius", "watt",
         "hertz", "currencyUSD"}  # fmt: skip


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def sections(dashboard: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Panels under each row, by row title."""
    found: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = found.setdefault(panel["title"], [])
        else:
            current.append(panel)
    return found


def strings(value: Any) -> list[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
    grid = panel["gridPos"]
    return {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip


class TestLayout:
    def test_identity(self, dashboard: dict[str, Any]) -> None:
        """A stable uid and title, so re-importing replaces rather than duplicates."""
        assert ("autobot-apm", "autobot-apm") == (dashboard["uid"], dashboard["title"])
        assert dashboard["schemaVersion"] >= 36

    def test_panel_ids_are_unique(self, dashboard: dict[str, Any]) -> None:
        """Grafana addresses panels by id; two alike break links and editing."""
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))

    def test_panels_fit_the_grid(self, dashboard: dict[str, Any]) -> None:
        """Every panel lies within the 24 columns, with a positive size."""
        misplaced = [
            panel["title"]
            for panel in dashboard["panels"]
            if not (0 <= panel["gridPos"]["x"] and panel["gridPos"]["w"] > 0
                    and panel["gridPos"]["h"] > 0
                    and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= GRID_WIDTH)
        ]  # fmt: skip
        assert [] == misplaced

    def test_panels_do_not_overlap(self, dashboard: dict[str, Any]) -> None:
        """No two panels claim the same grid cell."""
        overlapping = [
            (a["title"], b["title"])
            for a, b in itertools.combinations(dashboard["panels"], 2)
            if cells(a) & cells(b)
        ]
        assert [] == overlapping

    def test_sections_in_order(self, dashboard: dict[str, Any]) -> None:
        """RED per route, database, cache, LLM, host, GPU and NPU each have a row."""
        assert SECTIONS == list(sections(dashboard))
        assert all(sections(dashboard).values())


class TestQueries:
    def test_every_panel_queries_the_chosen_data_source(self, dashboard: dict[str, Any]) -> None:
        """Panels and targets use the ${datasource} variable, never a fixed uid."""
        wrong = [
            panel["title"]
            for panel in query_panels(dashboard)
            if panel["datasource"] != DATASOURCE
            or any(target["datasource"] != DATASOURCE for target in panel["targets"])
        ]
        assert [] == wrong

    def test_every_panel_has_distinct_queries(self, dashboard: dict[str, Any]) -> None:
        """Each panel has at least one query, each with its own refId."""
        bad = [
            panel["title"]
            for panel in query_panels(dashboard)
            if not panel["targets"]
            or len({target["refId"] for target in panel["targets"]}) != len(panel["targets"])
            or not all(target["expr"].strip() for target in panel["targets"])
        ]
        assert [] == bad

    def test_variables_used_are_defined(self, dashboard: dict[str, Any]) -> None:
        """$job, $route and ${datasource} are template variables of the dashboard."""
        defined = {variable["name"] for variable in dashboard["templating"]["list"]}
        used = {name for text in strings(dashboard) for name in VARIABLE.findall(text)}
        assert {"job", "route", "datasource"} <= used
        assert set() == used - defined - BUILTIN_VARIABLES

    def test_units_are_grafana_units(self, dashboard: dict[str, Any]) -> None:
        """Each panel's unit is one Grafana formats."""
        units = {panel["fieldConfig"]["defaults"]["unit"] for panel in query_panels(dashboard)}
        assert set() == units - UNITS

    @pytest.mark.parametrize(
        ("section", "series"),
        [
            ("RED per route", "http_server_request_duration_seconds"),
            ("Database", "db_client_operation_duration_seconds"),
            ("Database", "db_client_connection_count"),
            ("Cache", "autobot_apm_cache_operations_total"),
            ("LLM", "gen_ai_client_token_usage"),
            ("LLM", "gen_ai_client_operation_duration_seconds"),
            ("LLM", "gen_ai_client_operation_time_to_first_chunk_seconds"),
            ("LLM", "autobot_apm_gen_ai_client_cost_total"),
            ("Host", "system_cpu_utilization"),
            ("GPU", "hw_temperature_celsius"),
            ("NPU", "hw_npu_utilization"),
        ],
    )
    def test_section_shows_its_metric(
        self, dashboard: dict[str, Any], section: str, series: str
    ) -> None:
        """Each section queries the metric it is about."""
        expressions = " ".join(
            target["expr"] for panel in sections(dashboard)[section] for target in panel["targets"]
        )
        assert series in expressions
