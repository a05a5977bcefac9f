"""One table of settings: each resolved as argument, else environment variable, else default.

The table is the single source of truth for :func:`autobot_apm.configure`, for
``autobot-apm doctor`` (which shows where each value came from) and for the
configuration reference in the documentation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from .._llm.content import parse_content_capture
from .._llm.semconv import parse_opt_in
from .._llm.settings import Prices, parse_prices
from .._tracking.errors import ConfigurationError
from .headers import check_headers
from .prometheus import ListenAddress, parse_listen_address

Parser = Callable[[str, Any], Any]

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
CONTENT_CAPTURE = ("no_content", "span_only", "event_only", "span_and_event")


# --- parsers: (setting name, raw value) -> typed value, raising ConfigurationError ---


def parse_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(name, value, "expected a non-empty string")
    return value.strip()


def parse_optional_str(name: str, value: Any) -> str | None:
    return None if value is None or value == "" else parse_str(name, value)


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off", ""}:
        return False
    raise ConfigurationError(name, value, "expected true or false")


# Upper bounds that no sane deployment reaches but that keep every value inside what the
# SDK's threads and ``threading`` timeouts accept (1e10 s overflows a wait at exit).
MAX_SECONDS = 86_400.0
MAX_COUNT = 10_000_000


def parse_seconds(name: str, value: Any) -> float:
    """Seconds from 0 to a day."""
    return _seconds_in_range(name, value, positive=False)


def parse_positive_seconds(name: str, value: Any) -> float:
    """Seconds above 0 (an interval or a timeout of 0 spins or fails every export)."""
    return _seconds_in_range(name, value, positive=True)


def parse_millis_as_seconds(name: str, value: Any) -> float:
    """Environment variables such as OTEL_METRIC_EXPORT_INTERVAL are in milliseconds."""
    if isinstance(value, str):
        value = _number(name, value, "expected a number of milliseconds") / 1000.0
    return parse_positive_seconds(name, value)


def _seconds_in_range(name: str, value: Any, *, positive: bool) -> float:
    seconds = _number(name, value, "expected a number of seconds")
    low_ok = seconds > 0 if positive else seconds >= 0
    if not (low_ok and seconds <= MAX_SECONDS):
        floor = "> 0" if positive else ">= 0"
        raise ConfigurationError(name, value, f"expected seconds {floor} and <= {MAX_SECONDS:g}")
    return seconds


def _number(name: str, value: Any, reason: str) -> float:
    if isinstance(value, bool):
        raise ConfigurationError(name, value, reason)
    try:
        return float(value)
    except Exception:
        raise ConfigurationError(name, value, reason) from None


def parse_positive_int(name: str, value: Any) -> int:
    """A count from 1 to MAX_COUNT; a float only when it is whole."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigurationError(name, value, "expected a whole number")
    try:
        number = int(value)
        whole = not isinstance(value, float) or value == number
    except Exception:
        raise ConfigurationError(name, value, "expected a whole number") from None
    if not (whole and 0 < number <= MAX_COUNT):
        raise ConfigurationError(name, value, f"expected a whole number from 1 to {MAX_COUNT}")
    return number


def parse_ratio(name: str, value: Any) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(name, value, "expected a number between 0 and 1") from None
    if not 0.0 <= ratio <= 1.0:
        raise ConfigurationError(name, value, "expected a number between 0 and 1")
    return ratio


def choice(*allowed: str) -> Parser:
    def parse(name: str, value: Any) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in allowed:
            raise ConfigurationError(name, value, f"expected one of {', '.join(allowed)}")
        return str(text)

    return parse


def parse_endpoint(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(name, value, "expected a URL such as http://127.0.0.1:4317")
    if any(char.isspace() or ord(char) < 0x20 for char in value.strip()):
        raise ConfigurationError(name, value, "a URL cannot contain spaces or control characters")
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(name, value, f"malformed URL ({exc})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            name,
            value,
            "expected an http:// or https:// URL with a host, e.g. http://127.0.0.1:4317",
        )
    if port == 0:
        raise ConfigurationError(name, value, "port 0 is not a collector address")
    return value.strip()


def parse_pairs(name: str, value: Any) -> dict[str, str]:
    """``k=v,k2=v2`` (URL-decoded, as the OTel spec defines) or a mapping."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        try:
            return {str(k): str(v) for k, v in value.items()}
        except Exception:
            raise ConfigurationError(name, "…", "expected a mapping of strings") from None
    if not isinstance(value, str):
        raise ConfigurationError(name, value, "expected key=value pairs separated by commas")
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(name, _redact_pairs(value), "expected key=value pairs")
        pairs[unquote(key.strip())] = unquote(val.strip())
    return pairs


def parse_headers(name: str, value: Any) -> dict[str, str]:
    """Export headers: pairs (see parse_pairs) that HTTP and gRPC can both carry."""
    return check_headers(name, parse_pairs(name, value))


def _redact_pairs(value: str) -> str:
    """Header values are secrets (API keys): an error message shows only the keys."""
    return ",".join(part.partition("=")[0] + "=…" for part in value.split(","))


def parse_url_list(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    try:
        items = value.split(",") if isinstance(value, str) else [str(item) for item in value]
    except Exception:
        raise ConfigurationError(
            name, value, "expected a comma-separated string or a list of strings"
        ) from None
    return tuple(item.strip() for item in items if item.strip())


def parse_mapping(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(name, value, "expected a mapping")
    return dict(value)


def parse_sampler(name: str, value: Any) -> bool | dict[str, Any] | None:
    """None or False (off), True, or a mapping of start_sampler() options (checked there)."""
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(name, value, "expected True, False or a mapping of options")
    return dict(value)


def parse_logging(name: str, value: Any) -> str:
    """off, ids or otlp; the rule lives with the logs module (imported late: it imports us)."""
    from .logs import parse_logging as parse

    return parse(name, value)


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
        "Database calls slower than this many seconds get a 'slow_operation' event.",
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
