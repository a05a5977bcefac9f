"""Time a copy of the package against the installed one, call for call (``--compare``).

Proposed changes to the tracking core are measured this way: the copy is imported
under another name (``_sdk.load_candidate``), given a runtime over the very same SDK
objects, and each of its calls is timed in the same rounds as the installed package's.
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime

from ._floor import (
    FLOOR,
    Floor,
    consume,
    db_tracker,
    items,
    repeat,
    repeat_async,
    with_block,
    work,
    work_async,
)
from ._harness import Settings, Variant, measure, paired_ratio, table
from ._sdk import Pipeline


def candidate_variants(
    sdk: Pipeline, loop: asyncio.AbstractEventLoop, candidate: ModuleType
) -> list[Variant]:
    """The same calls through the installed package and through a candidate copy."""
    base = sdk.runtime
    module = find_runtime_module(candidate)
    theirs = module.Runtime(base.tracer, base.meter, base.settings)  # the same SDK objects

    def track(package: Any) -> Any:
        return package.track_database("postgresql", operation="SELECT", collection="users")

    variants = [Variant(FLOOR, repeat(Floor(base, db_tracker()).start_span, base))]
    for label, package, runtime, runtime_module in (
        ("installed", apm, base, _runtime),
        ("candidate", candidate, theirs, module),
    ):
        variants += [
            Variant(f"{label}: decorator", repeat(track(package)(work), runtime, runtime_module)),
            Variant(f"{label}: with", repeat(with_block(track(package)), runtime, runtime_module)),
            Variant(
                f"{label}: track_api decorator",
                repeat(
                    package.track_api(route="/items/{id}", method="GET")(work),
                    runtime,
                    runtime_module,
                ),
            ),
            Variant(
                f"{label}: coroutine decorator",
                repeat_async(loop, track(package)(work_async), runtime, runtime_module),
            ),
            Variant(
                f"{label}: generator decorator",
                repeat(consume(track(package)(items)), runtime, runtime_module),
            ),
            Variant(
                f"{label}: unconfigured decorator",
                repeat(track(package)(work), None, runtime_module),
            ),
            Variant(
                f"{label}: unconfigured coroutine",
                repeat_async(loop, track(package)(work_async), None, runtime_module),
            ),
        ]
    return variants


def find_runtime_module(package: ModuleType) -> ModuleType:
    """The module holding ``current`` (the runtime tracked calls see) in ``package``.

    A candidate may predate the move of the engine into ``_tracking/``: both layouts are
    looked for, so that the change that made the move can itself be compared.
    """
    for relative in ("._tracking.runtime", "._runtime"):
        try:
            return importlib.import_module(relative, package.__name__)
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"no runtime module in {package.__name__} ({package.__file__})")


def compare(
    sdk: Pipeline, loop: asyncio.AbstractEventLoop, candidate: ModuleType, settings: Settings
) -> str:
    results = measure(candidate_variants(sdk, loop, candidate), FLOOR, settings)
    lines = [table("Candidate copy of the package vs the installed one", results, FLOOR), ""]
    for result in results:
        if result.name.startswith("candidate: "):
            kind = result.name.removeprefix("candidate: ")
            pair = paired_ratio(results, result.name, f"installed: {kind}")
            low, high = pair.ratio_spread
            lines.append(
                f"- {kind}: candidate / installed = {pair.ratio:.3f} (IQR {low:.3f}-{high:.3f})"
            )
    return "\n".join(lines)
