"""Which GenAI conventions are in force: the default set, or the latest experimental one.

As in the OpenTelemetry Python GenAI instrumentations, the newest (experimental) names are
emitted only when ``OTEL_SEMCONV_STABILITY_OPT_IN`` (the ``semconv_stability_opt_in``
setting) contains ``gen_ai_latest_experimental``. Without it, the facts those names carry
are kept under this library's own names, listed below, so nothing is lost and the two
names of one fact never appear side by side.

Every name on the left is in the installed registry
(``opentelemetry.semconv._incubating.attributes.gen_ai_attributes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LATEST_EXPERIMENTAL = "gen_ai_latest_experimental"

# Latest-convention name -> the name the same fact has without the opt-in.
LATEST_ONLY: dict[str, str] = {
    "gen_ai.request.stream": "autobot_apm.gen_ai.request.stream",
    "gen_ai.response.time_to_first_chunk": "autobot_apm.gen_ai.response.time_to_first_chunk",
    "gen_ai.usage.cache_read.input_tokens": "autobot_apm.gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens": (
        "autobot_apm.gen_ai.usage.cache_creation.input_tokens"
    ),
    "gen_ai.usage.reasoning.output_tokens": "autobot_apm.gen_ai.usage.reasoning.output_tokens",
}


def in_force(attributes: Mapping[str, Any], latest: bool) -> dict[str, Any]:
    """``attributes`` (written with the latest names) under the names in force."""
    if latest:
        return dict(attributes)
    return {LATEST_ONLY.get(key, key): value for key, value in attributes.items()}


def latest_in(tokens: object) -> bool:
    """Whether the parsed opt-in tokens ask for the latest GenAI conventions."""
    return isinstance(tokens, tuple) and LATEST_EXPERIMENTAL in tokens
