"""Parsers of the LLM settings: message content capture, semconv opt-ins, model prices."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from ..._tracking.errors import ConfigurationError

# Where captured messages go: nowhere, on the span, as an event, or both.
CAPTURE_MODES = ("no_content", "span_only", "event_only", "span_and_event")
# Boolean spellings: the legacy "true" turns capture on, on the span.
_SWITCHES = {"true": "span_only", "1": "span_only", "false": "no_content", "0": "no_content",
             "": "no_content"}  # fmt: skip


def parse_content_capture(name: str, value: Any) -> str:
    """The capture mode (``no_content``, ``span_only``...) a setting value names.

    Raises ConfigurationError for anything else; a mode parses to itself.
    """
    if value is None or isinstance(value, bool):
        return "span_only" if value else "no_content"
    text = value.strip().lower() if isinstance(value, str) else None
    mode = _SWITCHES.get(text, text) if text is not None else None
    if mode is None or mode not in CAPTURE_MODES:
        raise ConfigurationError(
            name, value, "expected NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT or true"
        )
    return mode


def parse_opt_in(name: str, value: Any) -> tuple[str, ...]:
    """``OTEL_SEMCONV_STABILITY_OPT_IN``: a comma-separated list (or a sequence) of
    tokens, kept lower-case; tokens this library does not use are kept and ignored, as the
    OpenTelemetry instrumentations do."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts: list[Any] = value.split(",")
    elif isinstance(value, list | tuple | frozenset | set):
        parts = list(value)
    else:
        raise ConfigurationError(name, value, "expected a comma-separated list of tokens")
    if not all(isinstance(part, str) for part in parts):
        raise ConfigurationError(name, value, "expected text tokens")
    return tuple(sorted({part.strip().lower() for part in parts if part.strip()}))


Prices = dict[str, tuple[float, float]]
PRICE_HINT = "expected {model: (input, output)} in US dollars per million tokens"
MAX_PRICE_FILE = 1 << 20  # bytes: a price table is a few kilobytes


def parse_prices(name: str, value: Any) -> Prices:
    """``{model: (input, output)}`` or ``{model: {"input": x, "output": y}}``, checked;
    a string or path names a JSON file holding such a table."""
    if value is None:
        return {}
    if isinstance(value, str | os.PathLike):
        value = _price_file(name, value)
    if not isinstance(value, Mapping):
        raise ConfigurationError(name, value, PRICE_HINT)
    prices: Prices = {}
    for model, price in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(name, model, "model names must be non-empty strings")
        prices[model.strip()] = _price_pair(f"{name}[{model!r}]", price)
    return prices


def _price_file(name: str, path: str | os.PathLike[str]) -> Any:
    """The JSON object in the file at ``path`` (read once, at configure())."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_PRICE_FILE + 1)
    except OSError as exc:
        raise ConfigurationError(
            name, path, f"cannot read the price file ({exc.strerror})"
        ) from None
    if len(data) > MAX_PRICE_FILE:
        raise ConfigurationError(name, path, "the price file is larger than 1 MiB")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ConfigurationError(name, path, f"the price file is not JSON ({exc})") from None


def _price_pair(name: str, price: Any) -> tuple[float, float]:
    if isinstance(price, Mapping):
        if set(price) != {"input", "output"}:
            raise ConfigurationError(name, price, "expected exactly the keys 'input' and 'output'")
        return _dollars(name, price["input"]), _dollars(name, price["output"])
    if isinstance(price, tuple | list) and len(price) == 2:
        return _dollars(name, price[0]), _dollars(name, price[1])
    raise ConfigurationError(name, price, "expected (input, output) or {'input': x, 'output': y}")


def _dollars(name: str, amount: Any) -> float:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ConfigurationError(name, amount, "prices must be numbers")
    if not math.isfinite(amount) or amount < 0:
        raise ConfigurationError(name, amount, "prices must be finite and >= 0")
    return float(amount)
