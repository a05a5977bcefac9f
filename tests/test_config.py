"""The settings table: argument > environment > default, and clear errors."""

import dataclasses
import typing

import pytest

from autobot_apm import ConfigurationError
from autobot_apm._sdk.settings import SETTINGS, Settings, resolve


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


class TestRanges:
    """Values the SDK would accept and then fail on are refused at configure time."""

    @pytest.mark.parametrize(
        ("arguments", "setting"),
        [
            ({"shutdown_timeout": 1e10}, "shutdown_timeout"),
            ({"span_schedule_delay": 1e308}, "span_schedule_delay"),
            ({"span_schedule_delay": 0}, "span_schedule_delay"),
            ({"metric_export_interval": 0}, "metric_export_interval"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": float("nan")}, "timeout"),
            ({"span_queue_size": 2**64}, "span_queue_size"),
            ({"span_batch_size": True}, "span_batch_size"),
            ({"content_max_length": 2.5}, "content_max_length"),
        ],
    )
    def test_out_of_range_values_are_configuration_errors(self, arguments, setting):
        """Each absurd value names its setting in a ConfigurationError."""
        with pytest.raises(ConfigurationError) as caught:
            resolve(arguments, environ={})
        assert setting == caught.value.setting

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("OTEL_BSP_SCHEDULE_DELAY", "0"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1e308"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "18446744073709551616"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "inf"),
        ],
    )
    def test_out_of_range_variables_name_the_variable(self, variable, value):
        """An environment variable out of range is reported under its own name."""
        with pytest.raises(ConfigurationError) as caught:
            resolve({}, environ={variable: value})
        assert variable == caught.value.setting

    def test_a_raising_int_conversion_is_a_configuration_error(self):
        """A value whose __int__ raises anything fails as bad input, not as that error."""

        class Hostile(int):
            def __int__(self):
                raise OverflowError("no int")

        with pytest.raises(ConfigurationError):
            resolve({"span_queue_size": Hostile(5)}, environ={})

    def test_endpoint_credentials_never_reach_the_message(self):
        """user:password@ of a bad endpoint is hidden in the error message."""
        with pytest.raises(ConfigurationError) as caught:
            resolve({"endpoint": "ftp://alice:s3cret@collector:4317"}, environ={})
        assert "s3cret" not in str(caught.value)
        assert "alice" not in str(caught.value)


HEADERS_VARIABLE = "OTEL_EXPORTER_OTLP_HEADERS"


class TestSendableHeaders:
    """Headers and endpoints that no exporter could send fail at configure time."""

    @pytest.mark.parametrize(
        ("arguments", "environ", "setting"),
        [
            ({"headers": {"X Api Key": "s3cret"}}, {}, "headers"),
            ({"headers": {"x-api-key": "s3cret\r\nInjected: 1"}}, {}, "headers"),
            ({"headers": {"x-api-key": "s3cret\x00"}}, {}, "headers"),
            ({"headers": {"x-api-key": "s3cret-é"}}, {}, "headers"),
            ({}, {HEADERS_VARIABLE: "x-api-key=s3cret%0A"}, HEADERS_VARIABLE),
            ({}, {HEADERS_VARIABLE: "bad%20name=s3cret"}, HEADERS_VARIABLE),
        ],
    )
    def test_unsendable_headers_name_the_setting_not_the_secret(self, arguments, environ, setting):
        """The error names the setting and the header, never the header's value."""
        with pytest.raises(ConfigurationError) as caught:
            resolve(arguments, environ=environ)
        assert setting == caught.value.setting
        assert "s3cret" not in str(caught.value)
        assert "s3cret" not in repr(caught.value.value)

    @pytest.mark.parametrize(
        ("arguments", "environ", "setting"),
        [
            ({"endpoint": "http://col lector:4317"}, {}, "endpoint"),
            ({"endpoint": "http://collector:4317/a\nb"}, {}, "endpoint"),
            ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a b:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ],
    )
    def test_endpoint_with_spaces_is_refused(self, arguments, environ, setting):
        """A URL with a space inside is a ConfigurationError naming the setting."""
        with pytest.raises(ConfigurationError) as caught:
            resolve(arguments, environ=environ)
        assert setting == caught.value.setting

    def test_valid_headers_pass(self):
        """Tokens with printable values are accepted as they are."""
        headers = {"X-Api-Key": "abc 123", "authorization": "Bearer t0k=n"}
        assert headers == resolve({"headers": headers}, environ={}).headers


def test_import_never_raises_because_of_the_environment():
    """`import autobot_apm` in an environment full of garbage settings succeeds."""
    import os
    import subprocess
    import sys

    from autobot_apm._sdk.settings import SETTINGS

    garbage = {variable: "\x01 garbage \u2603 =,=%zz" for s in SETTINGS for variable in s.env}
    result = subprocess.run(
        [sys.executable, "-c", "import autobot_apm, autobot_apm.testing; print('ok')"],
        env={**os.environ, **garbage}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ("ok\n", 0) == (result.stdout, result.returncode), result.stderr


class TestTypedSettings:
    """Settings is a typed dataclass kept in step with the SETTINGS table."""

    @staticmethod
    def field_types() -> dict[str, object]:
        hints = typing.get_type_hints(Settings)
        return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if f.name != "sources"}

    def test_one_field_per_row_in_table_order(self):
        """Every row has a field and every field (but ``sources``) has a row."""
        assert [s.name for s in SETTINGS] == list(self.field_types())

    @pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
    def test_each_field_has_the_type_its_parser_returns(self, setting):
        """The field's type is the parser's return type, widened by None when the
        default is None (an unset setting is left None, not parsed)."""
        returned = typing.get_type_hints(setting.parse)["return"]
        expected = returned | None if setting.default is None else returned
        assert expected == self.field_types()[setting.name]

    def test_settings_are_frozen_and_slotted(self):
        """No attribute can be set or invented after resolution."""
        settings = resolve({}, environ={})
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.timeout = 1.0  # type: ignore[misc]
        assert not hasattr(settings, "__dict__")

    def test_a_misspelt_field_is_an_attribute_error(self):
        """No ``__getattr__`` fallback: an unknown name is not quietly answered."""
        with pytest.raises(AttributeError):
            resolve({}, environ={}).slow_query_treshold  # noqa: B018

    def test_as_mapping_holds_every_value(self):
        settings = resolve({"timeout": 3}, environ={})
        assert [s.name for s in SETTINGS] == list(settings.as_mapping())
        assert 3.0 == settings.as_mapping()["timeout"]
