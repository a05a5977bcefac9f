"""One table of settings: each resolved as argument, else environment variable, else default.

The table is the single source of truth for :func:`autobot_apm.configure`, for
``autobot-apm doctor`` (which shows where each value came from) and for the
configuration reference in the documentation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._tracking.errors import ConfigurationError
from .parsers.llm import Prices, parse_content_capture, parse_opt_in, parse_prices
from .parsers.network import (
    ListenAddress,
    parse_endpoint,
    parse_headers,
    parse_listen_address,
    parse_pairs,
)
from .parsers.values import (
    Parser,
    choice,
    parse_bool,
    parse_logging,
    parse_millis_as_seconds,
    parse_optional_str,
    parse_positive_int,
    parse_positive_seconds,
    parse_ratio,
    parse_sampler,
    parse_seconds,
    parse_url_list,
)

SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("grpc", "http/protobuf")


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    env: tuple[str, ...]
    parse: Parser
    default: Any
    doc: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "service_name",
        ("OTEL_SERVICE_NAME",),
        parse_optional_str,
        None,
        "service.name of the resource; OTEL_RESOURCE_ATTRIBUTES may also set it.",
    ),
    Setting("service_version", (), parse_optional_str, None, "service.version of the resource."),
    Setting(
        "environment",
        ("AUTOBOT_APM_ENVIRONMENT",),
        parse_optional_str,
        None,
        "deployment.environment.name of the resource (production, staging, ...).",
    ),
    Setting(
        "resource_attributes",
        (),
        parse_pairs,
        {},
        "Extra resource attributes, merged over OTEL_RESOURCE_ATTRIBUTES.",
    ),
    Setting(
        "disabled",
        ("OTEL_SDK_DISABLED",),
        parse_bool,
        False,
        "Turn all telemetry off; tracked calls cost next to nothing.",
    ),
    Setting(
        "exporter",
        ("OTEL_TRACES_EXPORTER",),
        choice(*EXPORTERS),
        None,
        "otlp, console or none. Default: otlp when an endpoint is set, else console.",
    ),
    Setting(
        "protocol",
        ("OTEL_EXPORTER_OTLP_PROTOCOL",),
        choice(*PROTOCOLS),
        "http/protobuf",
        "OTLP transport: grpc or http/protobuf.",
    ),
    Setting(
        "endpoint",
        ("OTEL_EXPORTER_OTLP_ENDPOINT",),
        parse_endpoint,
        None,
        "Collector base URL; http/protobuf appends /v1/traces and /v1/metrics.",
    ),
    Setting(
        "headers",
        ("OTEL_EXPORTER_OTLP_HEADERS",),
        parse_headers,
        {},
        "Headers sent with every export (k=v,...): names are HTTP tokens, values printable "
        "ASCII; never logged.",
        secret=True,
    ),
    Setting(
        "timeout",
        ("OTEL_EXPORTER_OTLP_TIMEOUT",),
        parse_positive_seconds,
        10.0,
        "Seconds one export may take before it is abandoned.",
    ),
    Setting(
        "traces_sampler",
        ("OTEL_TRACES_SAMPLER",),
        choice(*SAMPLERS),
        "parentbased_always_on",
        "Trace sampler, named as in the OTel specification.",
    ),
    Setting(
        "sample_ratio",
        ("OTEL_TRACES_SAMPLER_ARG",),
        parse_ratio,
        1.0,
        "Ratio for the traceidratio samplers, 0..1.",
    ),
    Setting(
        "metric_export_interval",
        ("OTEL_METRIC_EXPORT_INTERVAL",),
        parse_millis_as_seconds,
        60.0,
        "Seconds between metric exports (the variable is in milliseconds).",
    ),
    Setting(
        "prometheus",
        ("AUTOBOT_APM_PROMETHEUS",),
        parse_listen_address,
        None,
        "Serve metrics for Prometheus to scrape at http://host:port/metrics. A port alone "
        "listens on 127.0.0.1; true means 127.0.0.1:9464. Needs autobot-apm[prometheus].",
    ),
    Setting(
        "span_queue_size",
        ("OTEL_BSP_MAX_QUEUE_SIZE",),
        parse_positive_int,
        2048,
        "Spans buffered for export; beyond it spans are dropped and counted.",
    ),
    Setting(
        "span_batch_size",
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",),
        parse_positive_int,
        512,
        "Spans sent in one export request.",
    ),
    Setting(
        "span_schedule_delay",
        ("OTEL_BSP_SCHEDULE_DELAY",),
        parse_millis_as_seconds,
        5.0,
        "Seconds between span exports (the variable is in milliseconds).",
    ),
    Setting(
        "shutdown_timeout",
        ("AUTOBOT_APM_SHUTDOWN_TIMEOUT",),
        parse_seconds,
        5.0,
        "Upper bound in seconds on shutdown(), also at interpreter exit.",
    ),
    Setting(
        "slow_query_threshold",
        ("AUTOBOT_APM_SLOW_QUERY_THRESHOLD",),
        parse_seconds,
        1.0,
        "Database calls slower than this many seconds get an 'autobot_apm.slow_operation' event.",
    ),
    Setting(
        "capture_message_content",
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",),
        parse_content_capture,
        False,
        "Record LLM prompts and completions: false (default), true, or NO_CONTENT, "
        "SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT.",
    ),
    Setting(
        "content_max_length",
        ("AUTOBOT_APM_CONTENT_MAX_LENGTH",),
        parse_positive_int,
        4096,
        "Characters kept of each captured prompt or completion.",
    ),
    Setting(
        "llm_prices",
        ("AUTOBOT_APM_LLM_PRICES",),
        parse_prices,
        {},
        "Per-model prices in US dollars: {model: (input per 1M tokens, output per 1M tokens)}, "
        "or the path of a JSON file holding that table.",
    ),
    Setting(
        "semconv_stability_opt_in",
        ("OTEL_SEMCONV_STABILITY_OPT_IN",),
        parse_opt_in,
        (),
        "Comma-separated opt-ins; gen_ai_latest_experimental switches LLM spans and metrics "
        "to the latest (experimental) GenAI conventions.",
    ),
    Setting(
        "excluded_urls",
        ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
        parse_url_list,
        None,
        "Regexes (comma-separated) searched in request URLs; matches get no span and no "
        "metric. Default: health, readiness and liveness probes, /metrics, /favicon.ico.",
    ),
    Setting(
        "capture_request_headers",
        ("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",),
        parse_url_list,
        (),
        "Request header names or regexes recorded on server spans (allow-list).",
    ),
    Setting(
        "capture_response_headers",
        ("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",),
        parse_url_list,
        (),
        "Response header names or regexes recorded on server spans (allow-list).",
    ),
    Setting(
        "sanitize_header_fields",
        ("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS",),
        parse_url_list,
        (),
        "Header names or regexes whose captured values are replaced by [REDACTED].",
    ),
    Setting(
        "server_timing",
        ("AUTOBOT_APM_SERVER_TIMING",),
        parse_bool,
        False,
        "Add a Server-Timing response header carrying the traceparent (off by default).",
    ),
    Setting(
        "logging",
        ("AUTOBOT_APM_LOGGING",),
        parse_logging,
        None,
        "Put trace_id/span_id/service.name on standard logging records; 'otlp' also exports "
        "log records over OTLP.",
    ),
    Setting(
        "sampler",
        (),
        parse_sampler,
        None,
        "Background host/GPU/NPU sampler: None or False (off), True, or a mapping of "
        "start_sampler() options.",
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Resolved settings, one typed field per row of SETTINGS (a test keeps the two in
    step: same names, each field of the type its parser returns, or None when unset),
    with where each value came from (argument, env name, default) in ``sources``."""

    service_name: str | None
    service_version: str | None
    environment: str | None
    resource_attributes: dict[str, str]
    disabled: bool
    exporter: str | None
    protocol: str
    endpoint: str | None
    headers: dict[str, str]
    timeout: float
    traces_sampler: str
    sample_ratio: float
    metric_export_interval: float
    prometheus: ListenAddress | None
    span_queue_size: int
    span_batch_size: int
    span_schedule_delay: float
    shutdown_timeout: float
    slow_query_threshold: float
    capture_message_content: str
    content_max_length: int
    llm_prices: Prices
    semconv_stability_opt_in: tuple[str, ...]
    excluded_urls: tuple[str, ...] | None
    capture_request_headers: tuple[str, ...]
    capture_response_headers: tuple[str, ...]
    sanitize_header_fields: tuple[str, ...]
    server_timing: bool
    logging: str | None
    sampler: bool | dict[str, Any] | None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def as_mapping(self) -> dict[str, Any]:
        """Every setting's value by name, in the table's order."""
        return {setting.name: getattr(self, setting.name) for setting in SETTINGS}


def resolve(arguments: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting: argument (not None) > first set env variable > default."""
    unknown = set(arguments) - SETTINGS_BY_NAME.keys()
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigurationError(name, arguments[name], "unknown setting")
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw, source = _raw_value(setting, arguments, env)
        unset = raw is None and source == "default"
        values[setting.name] = None if unset else _parse(setting, source, raw)
        sources[setting.name] = source
    return Settings(**values, sources=sources)


def _parse(setting: Setting, source: str, raw: Any) -> Any:
    """Run the setting's parser; whatever else it raises becomes a ConfigurationError, so
    that a hostile value (a raising ``__int__``, an absurd size) fails as bad input."""
    label = source_label(setting, source)
    try:
        return setting.parse(label, raw)
    except ConfigurationError:
        raise
    except Exception as exc:
        shown = "…" if setting.secret else raw
        raise ConfigurationError(label, shown, f"unusable value ({type(exc).__name__})") from None


def source_label(setting: Setting, source: str) -> str:
    return source if source not in {"argument", "default"} else setting.name


def _raw_value(
    setting: Setting, arguments: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[Any, str]:
    if arguments.get(setting.name) is not None:
        return arguments[setting.name], "argument"
    for variable in setting.env:
        if env.get(variable, "").strip():
            return env[variable], variable
    return setting.default, "default"
