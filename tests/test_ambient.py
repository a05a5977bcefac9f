"""Tracked calls record through the OpenTelemetry set-up the process made itself.

Each case runs in a fresh interpreter: the global providers can be set once per process.
The child prints what its own in-memory exporter and reader received, as JSON.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from autobot_apm.receiver import OTLPReceiver

HAND_MADE = """
import json, logging
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()

def install_providers():
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

def report():
    data = reader.get_metrics_data()
    names = [m.name for rm in (data.resource_metrics if data else ())
             for sm in rm.scope_metrics for m in sm.metrics]
    print(json.dumps({"spans": [s.name for s in exporter.get_finished_spans()],
                      "metrics": names}))
"""


def run_child(body: str, *, env: dict[str, str] | None = None, launcher: tuple[str, ...] = ()):
    program = textwrap.dedent(HAND_MADE) + textwrap.dedent(body)
    result = subprocess.run(
        [*launcher, sys.executable, "-c", program],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    return result


def reported(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_providers_installed_before_decoration_record():
    """Providers set by hand, then a tracked function: its span and metric arrive."""
    result = run_child("""
        install_providers()
        import autobot_apm as apm

        @apm.track_database("postgresql", "SELECT", collection="users")
        def load():
            return 1

        load()
        report()
    """)
    seen = reported(result)
    assert ["SELECT users"] == seen["spans"]
    assert "db.client.operation.duration" in seen["metrics"]


def test_providers_installed_after_decoration_record():
    """The usual order: decorated at import, providers set later in main."""
    result = run_child("""
        import autobot_apm as apm

        @apm.track_cache("sessions")
        def read():
            return None

        install_providers()
        read()
        with apm.track_operation("nightly"):
            pass
        report()
    """)
    seen = reported(result)
    assert ["get sessions", "nightly"] == seen["spans"]
    assert "db.client.operation.duration" not in seen["metrics"]
    assert "autobot_apm.cache.operation.duration" in seen["metrics"]
    assert "not recorded" not in result.stderr


def test_nothing_to_record_warns_once_then_providers_are_picked_up():
    """No configure() and no SDK provider: one warning naming the fix, however many calls;
    providers installed afterwards are used from the next call on."""
    result = run_child("""
        import autobot_apm as apm

        @apm.track_cache("sessions")
        def read():
            return None

        for _ in range(3):
            read()
        with apm.track_cache("sessions"):
            pass
        install_providers()
        read()
        report()
    """)
    warnings = [line for line in result.stderr.splitlines() if "are not recorded" in line]
    assert 1 == len(warnings), result.stderr
    assert "autobot_apm.configure()" in warnings[0]
    assert "opentelemetry-instrument" in warnings[0]
    assert ["get sessions"] == reported(result)["spans"]


def test_no_warning_when_telemetry_is_switched_off():
    """OTEL_SDK_DISABLED=true with configure(): silence is what was asked for."""
    result = run_child(
        """
        import autobot_apm as apm
        apm.configure()
        with apm.track_cache("sessions"):
            pass
        report()
        """,
        env={"OTEL_SDK_DISABLED": "true"},
    )
    assert "are not recorded" not in result.stderr
    assert [] == reported(result)["spans"]


def test_configure_names_the_settings_it_could_not_apply():
    """configure() over providers installed by hand: INFO lists what it could not apply."""
    result = run_child("""
        install_providers()
        import autobot_apm as apm
        apm.configure(service_name="checkout", endpoint="http://127.0.0.1:9",
                      sample_ratio=0.5, slow_query_threshold=0.2)
        with apm.track_cache("sessions"):
            pass
        report()
    """)
    (line,) = [line for line in result.stderr.splitlines() if "settings not applied" in line]
    assert line.startswith("INFO ")
    assert "endpoint (the installed providers keep their own exporters)" in line
    assert "service_name (the installed providers keep their own resource)" in line
    assert "sample_ratio (the installed TracerProvider keeps its own sampler)" in line
    assert "slow_query_threshold" not in line  # a tracker setting: it is applied
    assert ["get sessions"] == reported(result)["spans"]


@pytest.mark.e2e
def test_opentelemetry_instrument_set_up_is_used():
    """Under opentelemetry-instrument, without configure(): span and metric reach the
    collector the OTEL_* variables name (the embedded receiver on loopback)."""
    launcher = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    if not os.path.exists(launcher):
        pytest.skip("opentelemetry-instrument is not installed (opentelemetry-distro)")
    with OTLPReceiver() as receiver:
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_endpoint,
            "OTEL_SERVICE_NAME": "instrumented",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "",
        }
        run_child(
            """
            import autobot_apm as apm

            @apm.track_database("postgresql", "SELECT", collection="users")
            def load():
                return 1

            load()
            """,
            env=env,
            launcher=(launcher,),
        )
        (span,) = receiver.wait_for_spans(1)
        receiver.wait_for_metrics("db.client.operation.duration")
    assert "SELECT users" == span.name
    assert "instrumented" == span.resource["service.name"]
