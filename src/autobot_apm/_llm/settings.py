"""The LLM settings (content capture, prices), gathered once per runtime, not per call.

Their parsers live with the settings table (``_sdk/parsers/llm.py``); ``parse_prices``
is also public, as ``autobot_apm.llm.parse_prices``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._sdk.parsers.llm import Prices
from .._sdk.parsers.llm import parse_prices as parse_prices  # public in autobot_apm.llm
from .._sdk.state import STATE
from .._tracking.errors import report_internal_error
from .content import ContentCapture
from .semconv import latest_in

if TYPE_CHECKING:
    from .._sdk.settings import Settings
    from .._tracking.runtime import Runtime


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


def llm_settings(runtime: Runtime) -> LlmSettings:
    """The parsed LLM settings of ``runtime`` (defaults if they are malformed)."""
    # The runtime seen last and its settings: runtimes change only at configure().
    caches = STATE.caches
    last = caches.llm_settings
    if last is not None and last[0]() is runtime:
        return last[1]
    parsed = _parse(runtime.settings)
    caches.llm_settings = (weakref.ref(runtime), parsed)
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
