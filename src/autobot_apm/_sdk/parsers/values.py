"""Parsers of plain values: text, switches, numbers, choices, lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..._tracking.errors import ConfigurationError

Parser = Callable[[str, Any], Any]


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


def parse_sampler(name: str, value: Any) -> bool | dict[str, Any] | None:
    """None or False (off), True, or a mapping of start_sampler() options (checked there)."""
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(name, value, "expected True, False or a mapping of options")
    return dict(value)


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


def parse_logging(name: str, value: object) -> str:
    """The ``logging`` setting: ``off``, ``ids`` (stamp records) or ``otlp`` (also export)."""
    if isinstance(value, str) and value.strip().lower() in {"otlp", "ids", "off"}:
        return value.strip().lower()
    try:
        return "ids" if value is not None and parse_bool(name, value) else "off"
    except ConfigurationError:
        raise ConfigurationError(name, value, "expected true, false or 'otlp'") from None
