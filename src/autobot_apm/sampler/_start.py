"""``start_sampler()``: choose the parts, probe the hardware once, register the gauges.

Each part is ``"auto"`` (sample it when present), ``True`` (required: missing hardware is
a :class:`~autobot_apm.ConfigurationError` raised by this call, so a deployment that
expects a GPU fails loudly at start-up rather than exporting nothing) or ``False`` (off).
Once started, nothing the hardware does later raises: a GPU that vanishes is skipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from .._tracking.errors import ConfigurationError
from ._instruments import attach
from ._sampler import DEFAULT_INTERVAL, Sampler
from ._types import Absent, Clock, Source, SourceStatus
from .amd import open_amd
from .host import HostSource
from .npu import DEFAULT_SYSFS_ROOT, open_npu
from .nvidia import open_nvidia
from .process import ProcessSource

logger = logging.getLogger("autobot_apm.sampler")

Toggle = bool | str
Mode = Literal["required", "auto", "off"]
Opener = Callable[[], list[Source | Absent]]

MODES: dict[Any, Mode] = {
    True: "required", "true": "required", "on": "required", "required": "required",
    "auto": "auto",
    False: "off", "false": "off", "off": "off",
}  # fmt: skip
OPTIONS = ("host", "process", "gpu", "npu", "interval", "npu_sysfs_root")


def parse_mode(part: str, value: Toggle) -> Mode:
    key = value.strip().lower() if isinstance(value, str) else value
    mode = MODES.get(key) if isinstance(key, bool | str) else None
    if mode is None:
        raise ConfigurationError(f"sampler.{part}", value, "expected True, False or 'auto'")
    return mode


def parse_interval(value: float | None) -> float:
    if value is None:
        return DEFAULT_INTERVAL
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError("sampler.interval", value, "expected a number of seconds")
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError("sampler.interval", value, "expected seconds >= 0")
    return float(value)


def _psutil_part(make: Callable[[Clock], Source], component: str, clock: Clock) -> Opener:
    def open_part() -> list[Source | Absent]:
        try:
            return [make(clock)]
        except Exception as exc:
            return [Absent(component, f"psutil cannot read it here: {exc}")]

    return open_part


def build_sampler(
    *,
    host: Toggle = "auto",
    process: Toggle = "auto",
    gpu: Toggle = "auto",
    npu: Toggle = "auto",
    interval: float | None = None,
    npu_sysfs_root: str | Path = DEFAULT_SYSFS_ROOT,
    nvml: Any | None = None,
    amdsmi: Any | None = None,
    clock: Clock = time.monotonic,
) -> Sampler:
    """Probe the chosen parts and return a sampler not yet attached to any provider."""
    modes = {part: parse_mode(part, value) for part, value in
             (("host", host), ("process", process), ("gpu", gpu), ("npu", npu))}  # fmt: skip
    seconds = parse_interval(interval)
    openers: dict[str, Opener] = {
        "host": _psutil_part(HostSource, "host", clock),
        "process": _psutil_part(ProcessSource, "process", clock),
        "gpu": lambda: [open_nvidia(nvml, clock), open_amd(amdsmi, clock)],
        "npu": lambda: [open_npu(npu_sysfs_root, clock)],
    }
    sources: list[Source] = []
    absent: list[Absent] = []
    for part, mode in modes.items():
        if mode == "off":
            continue
        found = openers[part]()
        missing = [item for item in found if isinstance(item, Absent)]
        present = [item for item in found if not isinstance(item, Absent)]
        if mode == "required" and not present:
            _close_all(sources + present)
            reasons = "; ".join(f"{a.component}: {a.reason}" for a in missing)
            raise ConfigurationError(f"sampler.{part}", True, f"required but absent ({reasons})")
        sources += present
        absent += missing
    for item in absent:
        logger.info("autobot-apm sampler: no %s gauges: %s", item.component, item.reason)
    return Sampler(sources, absent=absent, interval=seconds, clock=clock)


def _close_all(sources: list[Source]) -> None:
    for source in sources:
        source.close()


def start_sampler(
    *,
    host: Toggle = "auto",
    process: Toggle = "auto",
    gpu: Toggle = "auto",
    npu: Toggle = "auto",
    interval: float | None = None,
    meter_provider: MeterProvider | None = None,
    npu_sysfs_root: str = DEFAULT_SYSFS_ROOT,
) -> Sampler:
    """Start host, process, GPU and NPU gauges, read whenever metrics are collected.

    Each part is ``"auto"`` (when present), ``True`` (required: raises
    :class:`~autobot_apm.ConfigurationError` now if absent) or ``False``. ``interval`` is
    the shortest time between two readings of the hardware (default 1 s); how often
    metrics are exported is the meter provider's business. Calling it again replaces
    the sampler on that provider. Example::

        sampler = apm.start_sampler(gpu=True, npu=False)
        ...
        sampler.stop()
    """
    # Tests that stand fakes in for the vendor modules call build_sampler and attach.
    sampler = build_sampler(
        host=host, process=process, gpu=gpu, npu=npu, interval=interval,
        npu_sysfs_root=npu_sysfs_root,
    )  # fmt: skip
    attach(sampler, meter_provider or metrics.get_meter_provider())
    return sampler


def sampler_from_setting(
    value: Any, *, meter_provider: MeterProvider | None = None
) -> Sampler | None:
    """Start the sampler from ``configure(sampler=...)``: None/False, True, or options."""
    if value is None or value is False:
        return None
    if value is True:
        return start_sampler(meter_provider=meter_provider)
    if not isinstance(value, Mapping):
        raise ConfigurationError("sampler", value, "expected True, False or a mapping of options")
    unknown = sorted(set(value) - set(OPTIONS))
    if unknown:
        reason = f"unknown option {unknown[0]!r}; expected one of {', '.join(OPTIONS)}"
        raise ConfigurationError("sampler", value, reason)
    return start_sampler(meter_provider=meter_provider, **dict(value))


def describe_hardware(*, npu_sysfs_root: str | Path = DEFAULT_SYSFS_ROOT) -> list[SourceStatus]:
    """What the sampler would see here: CPUs, memory, each GPU and NPU, or why not.

    Reads every part once (so unsupported GPU fields are known), then releases it.
    """
    sampler = build_sampler(npu_sysfs_root=npu_sysfs_root, interval=0)
    try:
        sampler.collect()
        return sampler.describe()
    finally:
        sampler.stop()
