"""autobot-apm doctor: configuration with sources, exporter and collector, dropped telemetry."""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Iterator

import pytest

from autobot_apm._sdk import health as _health
from autobot_apm._sdk.settings import SETTINGS
from autobot_apm.cli import main

VARIABLES = sorted(
    {name for setting in SETTINGS for name in setting.env}
    | {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "NO_COLOR"}
)


class Terminal(io.StringIO):
    """An output stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting comes from the environment of the test run (conftest zeroes the counts)."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def doctor(*extra: str, out: io.StringIO | None = None, status: int = 0) -> str:
    """doctor's output; its exit status must be ``status`` (1: a problem was found)."""
    out = out if out is not None else io.StringIO()
    assert status == main(["doctor", *extra], out=out)
    return out.getvalue()


def section(text: str, title: str) -> list[list[str]]:
    """The rows of the section whose title starts with ``title``, split into cells."""
    for block in text.split("\n\n"):
        lines = block.strip("\n").splitlines()
        if lines and lines[0].startswith(title):
            return [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    raise AssertionError(f"no section {title!r} in:\n{text}")


def row(text: str, title: str, first: str) -> list[str]:
    [found] = [cells for cells in section(text, title) if cells[0] == first]
    return found


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class TestConfigurationSection:
    def test_every_setting_is_listed_once(self) -> None:
        """Each setting of the table has exactly one row."""
        names = [cells[0] for cells in section(doctor(), "Configuration")[1:]]
        assert [setting.name for setting in SETTINGS] == names

    def test_default_value_and_source(self) -> None:
        """Without environment variables a setting shows its default, from 'default'."""
        shown = row(doctor(), "Configuration", "protocol")
        assert ["protocol", "http/protobuf", "default"] == shown

    def test_environment_variable_is_the_source(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A value from the environment names the variable it came from."""
        monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
        expected = ["service_name", "checkout", "OTEL_SERVICE_NAME"]
        assert expected == row(doctor(), "Configuration", "service_name")

    def test_durations_in_seconds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Millisecond variables are shown converted, with their unit."""
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
        shown = row(doctor(), "Configuration", "span_schedule_delay")
        assert ["0.25 s", "OTEL_BSP_SCHEDULE_DELAY"] == shown[1:]

    def test_argument_only_settings_are_marked(self) -> None:
        """Settings without a variable say that only configure() sets them."""
        shown = row(doctor(), "Configuration", "resource_attributes")
        assert "default (configure() only)" == shown[-1]

    def test_header_values_are_never_printed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Export headers (API keys) show as set, their value nowhere in the output."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=sk-live-123")
        text = doctor()
        assert ["headers", "<set>", "OTEL_EXPORTER_OTLP_HEADERS"] == row(
            text, "Configuration", "headers"
        )
        assert "sk-live-123" not in text

    def test_malformed_secret_is_not_printed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A malformed header setting is reported as invalid without its value."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "sk-live-123")
        text = doctor(status=1)
        assert row(text, "Configuration", "headers")[1].startswith("INVALID")
        assert "sk-live-123" not in text

    def test_invalid_value_is_reported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A malformed variable is shown as invalid, with the reason, and doctor exits 1."""
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "2")
        shown = row(doctor(status=1), "Configuration", "sample_ratio")
        assert "INVALID ('2': expected a number between 0 and 1)" == shown[1]

    def test_endpoint_credentials_are_redacted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A password in the collector URL is never printed."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://bob:hunter2@127.0.0.1:9")
        text = doctor(status=1)
        assert "http://REDACTED:REDACTED@127.0.0.1:9" == row(text, "Configuration", "endpoint")[1]
        assert "hunter2" not in text


class TestExporterSection:
    def test_console_without_endpoint(self) -> None:
        """With no endpoint the console is the exporter and no collector is checked."""
        rows = section(doctor(), "Exporter")
        assert rows[0][1].startswith("console")
        assert [] == [cells for cells in rows if cells[0] == "collector"]

    def test_reachable_collector(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A collector that accepts TCP connections is reported reachable."""
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
            shown = row(doctor(), "Exporter", "collector")[1]
        assert shown.startswith(f"reachable 127.0.0.1:{port} (TCP connect in ")

    def test_unreachable_collector(self, monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
        """A collector address that refuses connections is reported unreachable, and why."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port}")
        shown = row(doctor(status=1), "Exporter", "collector")[1]
        assert f"UNREACHABLE 127.0.0.1:{closed_port} (Connection refused)" == shown

    def test_signal_endpoint_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A per-signal endpoint variable replaces the base endpoint for its signal."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:2/m")
        text = doctor(status=1)
        assert "http://127.0.0.1:1" == row(text, "Exporter", "traces endpoint")[1]
        assert "http://127.0.0.1:2/m" == row(text, "Exporter", "metrics endpoint")[1]

    def test_invalid_setting_is_a_problem(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An invalid setting is named as what would make configure() raise."""
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "soon")
        text = doctor(status=1)
        expected = "configure() would raise ConfigurationError (OTEL_BSP_SCHEDULE_DELAY)"
        assert expected == row(text, "Exporter", "problem")[1]
        assert row(text, "Exporter", "kind")[1].startswith("console")

    def test_disabled(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """OTEL_SDK_DISABLED is reported as the exporter kind."""
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        assert row(doctor(), "Exporter", "kind")[1].startswith("disabled")


class TestDroppedSection:
    def test_no_drops(self) -> None:
        """A process that exported nothing shows none of either."""
        rows = section(doctor(), "Dropped telemetry")
        assert [["exported", "none"], ["dropped", "none"]] == rows[-2:]

    def test_counts_of_this_process(self) -> None:
        """Counts recorded in this process appear by signal and reason."""
        _health.count_dropped("traces", "queue_full", 3)
        assert ["dropped", "traces.queue_full 3"] == row(doctor(), "Dropped telemetry", "dropped")

    def test_explains_where_to_look(self) -> None:
        """The section says the counts are per process and names the metric."""
        text = " ".join(" ".join(cells) for cells in section(doctor(), "Dropped telemetry"))
        assert "per process" in text
        assert "autobot_apm.telemetry.dropped" in text


class TestOutput:
    def test_plain_when_not_a_terminal(self) -> None:
        """Output to a file or pipe has no escape codes."""
        assert "\x1b[" not in doctor()

    def test_titles_in_colour_on_a_terminal(self) -> None:
        """On a terminal the section titles are bold."""
        assert "\x1b[1mExporter\x1b[0m" in doctor(out=Terminal())

    def test_no_color_flag(self) -> None:
        """--no-color turns colour off on a terminal too."""
        assert "\x1b[" not in doctor("--no-color", out=Terminal())

    def test_no_color_variable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NO_COLOR turns colour off on a terminal too."""
        monkeypatch.setenv("NO_COLOR", "1")
        assert "\x1b[" not in doctor(out=Terminal())

    def test_columns_are_aligned(self) -> None:
        """Every value of the configuration section starts in the same column."""
        text = doctor()
        block = text.split("\n\n")[0].splitlines()[1:]
        starts = {len(re.match(r"\s*\S+\s+", line).group()) for line in block}
        assert 1 == len(starts)


class TestExitStatus:
    def test_problems_are_listed_last_and_exit_1(
        self, monkeypatch: pytest.MonkeyPatch, closed_port: int
    ) -> None:
        """An invalid setting and a dead collector are both named under Problems."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port}")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "soon")
        text = doctor(status=1)
        problems = text.split("\nProblems:\n", 1)[1]
        assert "ConfigurationError (OTEL_BSP_SCHEDULE_DELAY)" in problems
        assert f"collector UNREACHABLE 127.0.0.1:{closed_port}" in problems

    def test_a_healthy_set_up_exits_0_without_problems(self) -> None:
        """With valid settings and no collector to reach, doctor exits 0."""
        assert "Problems:" not in doctor(status=0)

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version and exits 0."""
        from autobot_apm import __version__

        with pytest.raises(SystemExit) as exited:
            main(["--version"])
        assert 0 == exited.value.code
        assert f"autobot-apm {__version__}" == capsys.readouterr().out.strip()
