"""The LLM settings (content capture, prices), parsed once per runtime, not per call.

``parse_prices`` and ``parse_content_capture`` are settings-table parsers: they raise
:class:`ConfigurationError` for a malformed value and accept their own output, so a value
already parsed at configure time passes through them unchanged.
"""

from __future__ import annotations

import json
import math
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._tracking.errors import ConfigurationError, report_internal_error
from .content import ContentCapture
from .semconv import latest_in

if TYPE_CHECKING:
    from .._sdk.settings import Settings
    from .._tracking.runtime import Runtime

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


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """What track_llm reads from the configure() settings."""

    capture: ContentCapture = field(default_factory=ContentCapture)
    prices: Prices = field(default_factory=dict)
    latest: bool = False  # the latest experimental GenAI conventions are in force

    def price(self, *models: str | None) -> tuple[float, float] | None:
        """The price of the first of ``models`` that has one."""
        for model in models:
            if model is not None and model in self.prices:
                return self.prices[model]
        return None


_DEFAULTS = LlmSettings()
# The runtime seen last and its parsed settings: runtimes change only at configure().
_last: tuple[weakref.ref[Runtime], LlmSettings] | None = None


def llm_settings(runtime: Runtime) -> LlmSettings:
    """The parsed LLM settings of ``runtime`` (defaults if they are malformed)."""
    global _last
    last = _last
    if last is not None and last[0]() is runtime:
        return last[1]
    parsed = _parse(runtime.settings)
    _last = (weakref.ref(runtime), parsed)
    return parsed


def _parse(settings: Settings) -> LlmSettings:
    try:
        capture = ContentCapture.from_mode(
            settings.capture_message_content, settings.content_max_length
        )
        return LlmSettings(
            capture, settings.llm_prices, latest_in(settings.semconv_stability_opt_in)
        )
    except Exception as exc:
        report_internal_error("llm settings", exc)
        return _DEFAULTS
