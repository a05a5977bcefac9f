"""The settings table: argument > environment > default, and clear errors."""

import pytest

from autobot_apm import ConfigurationError
from autobot_apm._sdk.settings import SETTINGS, resolve


class TestPrecedence:
    def test_argument_beats_environment(self):
        """An argument wins over the OTEL_* variable, and the source says so."""
        settings = resolve({"service_name": "arg"}, {"OTEL_SERVICE_NAME": "env"})
        assert "arg" == settings.service_name
        assert "argument" == settings.sources["service_name"]

    def test_environment_beats_default(self):
        """Without an argument, the variable is used and named as the source."""
        settings = resolve({}, {"OTEL_TRACES_SAMPLER_ARG": "0.25"})
        assert 0.25 == settings.sample_ratio
        assert "OTEL_TRACES_SAMPLER_ARG" == settings.sources["sample_ratio"]

    def test_milliseconds_variables_become_seconds(self):
        """OTEL_METRIC_EXPORT_INTERVAL is in ms; the setting is in seconds."""
        assert 1.5 == resolve({}, {"OTEL_METRIC_EXPORT_INTERVAL": "1500"}).metric_export_interval

    def test_defaults(self):
        """Nothing given: documented defaults."""
        settings = resolve({}, {})
        assert (5.0, False, "default") == (
            settings.shutdown_timeout,
            settings.disabled,
            settings.sources["endpoint"],
        )

    def test_headers_parse_as_pairs(self):
        """k=v,k2=v2 with URL-decoding, as the OTel spec defines."""
        settings = resolve({}, {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b,x=1"})
        assert {"api-key": "a b", "x": "1"} == settings.headers


class TestErrors:
    @pytest.mark.parametrize(
        ("setting", "value"),
        [
            ("endpoint", "localhost:4317"),
            ("endpoint", "ftp://collector"),
            ("endpoint", "http://host:99999"),
            ("protocol", "thrift"),
            ("exporter", "zipkin"),
            ("sample_ratio", 1.5),
            ("sample_ratio", -0.1),
            ("timeout", -1),
            ("shutdown_timeout", "soon"),
            ("span_queue_size", 0),
            ("traces_sampler", "sometimes"),
        ],
    )
    def test_bad_values_name_setting_and_value(self, setting, value):
        """Each malformed value raises ConfigurationError naming the setting and value."""
        with pytest.raises(ConfigurationError) as raised:
            resolve({setting: value}, {})
        assert setting == raised.value.setting
        assert repr(value) in str(raised.value)

    def test_bad_environment_value_names_the_variable(self):
        """A malformed variable is reported by its own name."""
        with pytest.raises(ConfigurationError, match="OTEL_TRACES_SAMPLER_ARG"):
            resolve({}, {"OTEL_TRACES_SAMPLER_ARG": "two"})

    def test_header_secrets_are_not_echoed(self):
        """A malformed header list is reported without its values."""
        with pytest.raises(ConfigurationError) as raised:
            resolve({}, {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=sekrit,broken"})
        assert "sekrit" not in str(raised.value)

    def test_unknown_setting(self):
        """A misspelt setting is an error, not silently ignored."""
        with pytest.raises(ConfigurationError, match="servce_name"):
            resolve({"servce_name": "x"}, {})


def test_every_setting_is_documented():
    """Each row of the table has a description for the configuration reference."""
    assert all(setting.doc for setting in SETTINGS)


def test_configure_takes_every_setting():
    """configure()'s keyword arguments are exactly the rows of the settings table."""
    import inspect

    import autobot_apm as apm

    parameters = inspect.signature(apm.configure).parameters
    assert {setting.name for setting in SETTINGS} == set(parameters)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
