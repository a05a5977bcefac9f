"""Observable instruments, registered once per meter provider, fed by the active sampler.

OpenTelemetry has no way to unregister an instrument, and creating one a second time
under the same name hands back the first (with its first callbacks). So each meter
provider gets one :class:`_Hub`: it creates each instrument once, its callbacks ask
whichever sampler is active on that provider, and starting a new sampler replaces (and
stops) the previous one instead of registering everything twice.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from .._tracking.errors import contained
from ._sampler import Sampler
from ._types import MetricSpec

METER_NAME = "autobot_apm.sampler"

Callback = Callable[[CallbackOptions], Iterable[Observation]]


class _Hub:
    """The instruments on one meter provider and the sampler currently behind them."""

    def __init__(self, provider: MeterProvider) -> None:
        self.meter = provider.get_meter(METER_NAME)
        self.created: set[str] = set()
        self.sampler: Sampler | None = None

    def ensure(self, spec: MetricSpec) -> None:
        if spec.name in self.created:
            return
        create = _CREATORS[spec.kind](self.meter)
        create(spec.name, [self._callback(spec.name)], spec.unit, spec.description)
        self.created.add(spec.name)

    def _callback(self, metric: str) -> Callback:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return _observe(self, metric)

        return observe


_NOTHING: list[Observation] = []


@contained(_NOTHING)
def _observe(hub: _Hub, metric: str) -> list[Observation]:
    sampler = hub.sampler
    return [] if sampler is None else sampler.observe(metric)


_CREATORS: dict[str, Callable[[Meter], Callable[..., object]]] = {
    "gauge": lambda meter: meter.create_observable_gauge,
    "updown": lambda meter: meter.create_observable_up_down_counter,
    "counter": lambda meter: meter.create_observable_counter,
}

_hubs: weakref.WeakKeyDictionary[MeterProvider, _Hub] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def attach(sampler: Sampler, provider: MeterProvider) -> None:
    """Make ``sampler`` the one feeding ``provider``'s instruments; stop the one before."""
    with _lock:
        hub = _hubs.get(provider)
        if hub is None:
            hub = _hubs[provider] = _Hub(provider)
        previous, hub.sampler = hub.sampler, sampler
        for spec in sampler.metrics:
            hub.ensure(spec)
    if previous is not None and previous is not sampler:
        previous.stop()
