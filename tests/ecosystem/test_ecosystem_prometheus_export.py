"""The prometheus setting: parsing, the served endpoint, shutdown, and a port already taken."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider

import autobot_apm as apm
from autobot_apm._sdk.parsers.network import ListenAddress, parse_listen_address
from autobot_apm._sdk.prometheus import prometheus_reader
from autobot_apm._tracking.errors import ConfigurationError
from support import free_port, scrape

pytest.importorskip("opentelemetry.exporter.prometheus", reason="autobot-apm[prometheus]")


def is_refused(address: ListenAddress) -> bool:
    try:
        scrape(address)
    except ConnectionRefusedError:
        return True
    except OSError as exc:
        return isinstance(exc.__cause__ or getattr(exc, "reason", None), ConnectionRefusedError)
    return False


@pytest.fixture
def address() -> ListenAddress:
    return ListenAddress("127.0.0.1", free_port())


@pytest.fixture
def provider(address: ListenAddress) -> Iterator[MeterProvider]:
    reader = prometheus_reader(address)
    assert reader is not None
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield provider
    provider.shutdown()


class TestParseListenAddress:
    @pytest.mark.parametrize("value", [None, False, "", "off", "false", " none "])
    def test_off(self, value: object) -> None:
        """None, False and the words for off leave the endpoint off."""
        assert None is parse_listen_address("prometheus", value)

    @pytest.mark.parametrize("value", [True, "on", "true"])
    def test_on_means_the_default_port_on_loopback(self, value: object) -> None:
        """True listens on 127.0.0.1:9464, the exporter's registered port."""
        assert ListenAddress("127.0.0.1", 9464) == parse_listen_address("prometheus", value)

    @pytest.mark.parametrize("value", [9100, "9100", " 9100 "])
    def test_port_alone_stays_on_loopback(self, value: object) -> None:
        """A port without a host never exposes the metrics beyond this machine."""
        assert ListenAddress("127.0.0.1", 9100) == parse_listen_address("prometheus", value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("0.0.0.0:9464", ListenAddress("0.0.0.0", 9464)),
            ("localhost:9100", ListenAddress("localhost", 9100)),
            ("[::1]:9100", ListenAddress("::1", 9100)),
        ],
    )
    def test_host_and_port(self, value: str, expected: ListenAddress) -> None:
        """host:port is taken as written; IPv6 addresses come in brackets."""
        assert expected == parse_listen_address("prometheus", value)

    def test_ipv6_address_prints_with_brackets(self) -> None:
        """str() of an IPv6 address is usable in a URL."""
        assert "[::1]:9100" == str(ListenAddress("::1", 9100))

    @pytest.mark.parametrize(
        "value", [":9464", "host:", "host:70000", "::1:9464", "abc", "0", 0, -1, 1.5, [9464]]
    )
    def test_malformed_values_name_the_setting(self, value: object) -> None:
        """Malformed addresses raise ConfigurationError naming the setting."""
        with pytest.raises(ConfigurationError) as caught:
            parse_listen_address("AUTOBOT_APM_PROMETHEUS", value)
        assert "AUTOBOT_APM_PROMETHEUS" == caught.value.setting

    def test_missing_extra_names_the_pip_command(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the exporter installed, the error says which extra to install."""
        monkeypatch.setitem(sys.modules, "opentelemetry.exporter.prometheus", None)
        with pytest.raises(ConfigurationError, match=r"pip install 'autobot-apm\[prometheus\]'"):
            parse_listen_address("prometheus", "9464")


class TestPrometheusReader:
    def test_serves_the_provider_metrics(
        self, address: ListenAddress, provider: MeterProvider
    ) -> None:
        """A histogram in seconds is scraped under its Prometheus name."""
        histogram = provider.get_meter("test").create_histogram("http.server.request.duration", "s")
        histogram.record(0.2, {"http.route": "/items/{id}"})
        assert 'http_server_request_duration_seconds_count{http_route="/items/{id}"' in (
            scrape(address)
        )

    def test_serves_only_its_own_registry(
        self, address: ListenAddress, provider: MeterProvider
    ) -> None:
        """prometheus_client's default process and GC collectors are not mixed in."""
        provider.get_meter("test").create_counter("jobs").add(1)
        body = scrape(address)
        assert "jobs_total" in body
        assert "python_gc_objects_collected_total" not in body

    def test_provider_shutdown_frees_the_port(self, address: ListenAddress) -> None:
        """Shutting the provider down stops the server; the port can be served again."""
        reader = prometheus_reader(address)
        assert reader is not None
        MeterProvider(metric_readers=[reader], shutdown_on_exit=False).shutdown()
        assert is_refused(address)
        again = prometheus_reader(address)
        assert again is not None
        again.shutdown()

    def test_forked_child_shuts_down_without_waiting(self, address: ListenAddress) -> None:
        """A forked child's shutdown returns (it does not wait on the parent's server
        thread, which the child does not have); the parent goes on serving. A shutdown that
        waited would hang the child until the run's timeout."""
        program = textwrap.dedent(f"""
            import os, urllib.request
            from opentelemetry.sdk.metrics import MeterProvider
            from autobot_apm._sdk.parsers.network import ListenAddress
            from autobot_apm._sdk.prometheus import prometheus_reader

            provider = MeterProvider(
                metric_readers=[prometheus_reader(ListenAddress("127.0.0.1", {address.port}))]
            )
            provider.get_meter("test").create_counter("jobs").add(1)
            pid = os.fork()
            if pid == 0:
                provider.shutdown()  # would wait forever on the parent's server thread
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            with urllib.request.urlopen("http://{address}/metrics", timeout=5) as response:
                served = b"jobs_total" in response.read()
            print(os.waitstatus_to_exitcode(status), served)
        """)
        result = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
        )
        assert "0 True\n" == result.stdout, result.stderr

    def test_port_taken_is_logged_not_raised(
        self, address: ListenAddress, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A port another process holds costs the endpoint and a warning, nothing more."""
        with socket.socket() as holder:
            holder.bind((address.host, address.port))
            holder.listen()
            with caplog.at_level(logging.WARNING, logger="autobot_apm"):
                assert None is prometheus_reader(address)
        assert [f"cannot serve Prometheus metrics on {address}"] == [
            record.getMessage().split(" (")[0].removeprefix("autobot-apm: ")
            for record in caplog.records
        ]

    def test_ipv6_loopback(self) -> None:
        """An IPv6 address is served over an IPv6 socket, and stops with its provider."""
        if not socket.has_ipv6:
            pytest.skip("this Python has no IPv6 support")
        try:
            address = ListenAddress("::1", free_port("::1"))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        reader = prometheus_reader(address)
        assert reader is not None, "::1 can be bound here, so the endpoint must start"
        provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        try:
            provider.get_meter("test").create_counter("jobs").add(1)
            body = scrape(address)  # http://[::1]:port/metrics
        finally:
            provider.shutdown()
        assert "jobs_total" in body
        assert is_refused(address)


class TestConfigure:
    def test_configure_serves_tracked_calls_until_shutdown(self, address: ListenAddress) -> None:
        """configure(prometheus=...) serves track_api's metric; shutdown() stops serving."""
        apm.configure(service_name="scraped", exporter="none", prometheus=str(address))
        try:
            apm.track_api(route="/ping", method="GET")(lambda: None)()
            body = scrape(address)
        finally:
            apm.shutdown()
        assert 'http_route="/ping"' in body
        assert 'service_name="scraped"' in body
        assert is_refused(address)

    def test_environment_variable(
        self, address: ListenAddress, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """AUTOBOT_APM_PROMETHEUS turns the endpoint on without code changes."""
        monkeypatch.setenv("AUTOBOT_APM_PROMETHEUS", str(address.port))
        apm.configure(service_name="scraped", exporter="none")
        try:
            apm.track_api(route="/env", method="GET")(lambda: None)()
            body = scrape(address)
        finally:
            apm.shutdown()
        assert 'http_route="/env"' in body

    def test_adopted_meter_provider_gets_no_endpoint(self, address: ListenAddress) -> None:
        """With the application's own MeterProvider, a warning says why nothing listens."""
        program = textwrap.dedent(f"""
            import logging, urllib.request
            from opentelemetry import metrics
            from opentelemetry.sdk.metrics import MeterProvider
            import autobot_apm as apm

            logging.basicConfig()
            metrics.set_meter_provider(MeterProvider())
            apm.configure(service_name="own", exporter="none", prometheus="{address}")
            try:
                urllib.request.urlopen("http://{address}/metrics", timeout=5)
            except OSError:
                print("refused")
        """)
        result = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
        )
        assert ("refused\n", 0) == (result.stdout, result.returncode), result.stderr
        assert "adds no endpoint because the application's own MeterProvider" in result.stderr
