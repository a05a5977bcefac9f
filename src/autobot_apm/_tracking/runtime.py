"""The live telemetry runtime: the tracer, the meter and instruments created once.

``current`` is ``None`` until :func:`autobot_apm.configure` succeeds (or when the SDK is
disabled), unless the process installed OpenTelemetry SDK providers of its own: then
:func:`adopt` builds a runtime over them at the first tracked call. Every tracked call
reads ``current`` once; ``None`` with only the API's placeholder providers sends the call
straight through, which is what keeps the unconfigured path nearly free.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry import trace as _trace_api
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.metrics import _internal as _metrics_api
from opentelemetry.trace import Tracer

from .._sdk import health as _health
from .._sdk.settings import Settings
from .._sdk.state import on_reset
from .attributes import metric_number
from .errors import report_internal_error

InstrumentKind = Literal["histogram", "counter"]

# Semantic-convention bucket boundaries (SEMCONV.md; the SDK's default buckets are sized
# for milliseconds), with edges added around each shipped alert threshold (5 s for HTTP,
# 1 s for databases, rules/autobot-apm.rules.yml): the threshold is an edge, so the alert
# fires exactly when more than 5% of calls exceed it, and close neighbours keep the p95 it
# reports within 20% (1.5 s queries read 4.8 s with the 1 s to 5 s bucket alone).
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5,
                         4, 5, 6, 7.5, 10)  # fmt: skip
DB_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.1,
                       1.25, 1.5, 2, 2.5, 5, 10)  # fmt: skip
ROW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


# eq=False: specs are module constants looked up on every tracked call, so they hash by
# identity (one C call) rather than by hashing all five fields each time.
@dataclass(frozen=True, slots=True, eq=False)
class MetricSpec:
    """What a tracker records: declared once per module, created once per runtime."""

    name: str
    kind: InstrumentKind
    unit: str
    description: str
    buckets: Sequence[float] | None = None


_FLOAT_GUARD = 1e300
_INT64_MAX = 2**63 - 1
# The guard's bound on an integer total: half the int64 range (see BoundedCounter.add).
_INT_TOTAL_LIMIT = _INT64_MAX // 2


class BoundedCounter:
    """A counter whose values pass :func:`metric_number` and whose running total stays
    within OTLP's range.

    The SDK keeps a cumulative sum per series and exports it on every collection: one
    add that pushes it past 64 bits (or a float sum to infinity) would fail every later
    export. So the total of all adds, all series together (an upper bound of each
    series' sum), is kept here, and an add that would take it out of range is dropped
    rather than clamped (clamping would record a false sum) and counted, in ``rejected``
    and in :func:`autobot_apm.telemetry_health` as ``metrics.rejected_value``, as are
    values that are no number at all or negative.
    The total is kept for the runtime's life, also under delta temporality: only values
    of absurd size (2**62 items at a time) ever reach the bound.
    """

    __slots__ = ("_counter", "_total", "rejected")

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._total: int | float = 0
        self.rejected = 0

    def add(self, amount: object, attributes: Any = None) -> None:
        """Add ``amount`` (a non-negative int or finite float) unless it cannot be carried."""
        # No lock: a forked child must never inherit one held by a busy thread. Two
        # threads racing here can lose one add from the guard's total, never from the
        # metric, which is why the guard stops at half the int64 range.
        total = self._total
        if type(amount) is int and type(total) is int and 0 <= amount:
            # The common case (add(1) to an integer total), checked inline: the same
            # bounds as below, without the three calls of the general path.
            total += amount
            if total <= _INT_TOTAL_LIMIT:
                self._total = total
                self._counter.add(amount, attributes)
                return
        number = metric_number(amount, floats=True)
        if number is None or not _in_range(self._total + number):
            self.rejected += 1
            _health.count_dropped("metrics", "rejected_value", 1)
            return
        self._total += number
        self._counter.add(number, attributes)


def _in_range(total: int | float) -> bool:
    if type(total) is int:
        return total <= _INT_TOTAL_LIMIT
    return math.isfinite(total) and total <= _FLOAT_GUARD


class _Instruments(dict[MetricSpec, Any]):
    """The instruments of one runtime by spec, each created at its first look-up.

    A subscript that finds its spec runs no Python code at all (the C ``dict`` look-up,
    hashing the spec by identity); only a miss calls :meth:`__missing__`, once per spec.
    """

    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self._meter = meter
        self._lock = threading.Lock()

    def __missing__(self, spec: MetricSpec) -> Any:
        with self._lock:
            instrument = self.get(spec)
            if instrument is None:
                instrument = self[spec] = _make_instrument(self._meter, spec)
            return instrument


class Runtime:
    """Tracer, meter and lazily created instruments of one configure() call."""

    def __init__(self, tracer: Tracer, meter: Meter, settings: Settings) -> None:
        self.tracer = tracer
        self.meter = meter
        self.settings = settings
        # Copied out: the database trackers compare it on every call.
        self.slow_query_threshold = settings.slow_query_threshold
        self._instruments = _Instruments(meter)
        # Every tracked call records through these: bound to the dict's own C subscript,
        # they cost no Python frame per record (two before: a method and a look-up).
        self.histogram: Callable[[MetricSpec], Histogram] = self._instruments.__getitem__
        self.counter: Callable[[MetricSpec], BoundedCounter] = self._instruments.__getitem__


def _make_instrument(meter: Meter, spec: MetricSpec) -> Any:
    if spec.kind == "histogram":
        return meter.create_histogram(
            spec.name,
            unit=spec.unit,
            description=spec.description,
            explicit_bucket_boundaries_advisory=spec.buckets,
        )
    counter = meter.create_counter(spec.name, unit=spec.unit, description=spec.description)
    return BoundedCounter(counter)


current: Runtime | None = None

# Holds the current runtime, or nothing; install() keeps it in step with ``current``.
active: list[Runtime] = []

# The global providers last seen to record nothing (unset, the API's no-op ones, or ours
# after shutdown()), by identity. Until the process installs another, enabled() answers
# False with two attribute reads and no call. _UNSEEN matches nothing, so the first
# tracked call of the process goes to the adopter, which looks and records what it saw.
_UNSEEN = object()
_quiet_tracer_provider: object = _UNSEEN
_quiet_meter_provider: object = _UNSEEN
# Set by _sdk.ambient (which imports this module): builds a runtime over the process's
# own SDK providers, or marks them quiet and returns None.
_adopter: Callable[[], Runtime | None] | None = None

# The API keeps its global providers in these module attributes (None until one is set).
# Reading them costs far less than get_tracer_provider(), which also reads os.environ.
_FAST_GLOBALS = hasattr(_trace_api, "_TRACER_PROVIDER") and hasattr(_metrics_api, "_METER_PROVIDER")


def global_providers() -> tuple[object, object]:
    """The global tracer and meter providers, as the identity checks compare them."""
    if _FAST_GLOBALS:
        return _trace_api._TRACER_PROVIDER, _metrics_api._METER_PROVIDER
    return _trace_api.get_tracer_provider(), _metrics_api.get_meter_provider()


def _enabled_fast() -> bool:
    if current is not None:
        return True
    if (
        _trace_api._TRACER_PROVIDER is _quiet_tracer_provider
        and _metrics_api._METER_PROVIDER is _quiet_meter_provider
    ):
        return False
    return adopt() is not None


def _enabled_public() -> bool:
    return current is not None or adopt() is not None


# wrapt calls this before each tracked call (``FunctionWrapper(enabled=...)``); False makes
# it call the decorated function itself, with no Python code of ours beyond this check.
enabled: Callable[[], bool] = _enabled_fast if _FAST_GLOBALS else _enabled_public


def adopt() -> Runtime | None:
    """The current runtime, else one over SDK providers the process installed itself.

    Call sites that read ``current`` use ``current or adopt()``: the adopter runs only
    when a global provider changed since it last looked.
    """
    runtime = current
    if runtime is not None or _adopter is None:
        return runtime
    if _FAST_GLOBALS:  # inlined: this runs on every untracked ``with`` block
        if (
            _trace_api._TRACER_PROVIDER is _quiet_tracer_provider
            and _metrics_api._METER_PROVIDER is _quiet_meter_provider
        ):
            return None
    elif global_providers() == (_quiet_tracer_provider, _quiet_meter_provider):
        return None
    return _adopter()


def set_adopter(adopter: Callable[[], Runtime | None]) -> None:
    global _adopter
    _adopter = adopter


def mark_quiet(tracer_provider: object, meter_provider: object) -> None:
    """Remember these global providers as recording nothing (see ``enabled``)."""
    global _quiet_tracer_provider, _quiet_meter_provider
    _quiet_tracer_provider, _quiet_meter_provider = tracer_provider, meter_provider


def forget_quiet() -> None:
    """Look at the global providers again at the next tracked call."""
    mark_quiet(_UNSEEN, _UNSEEN)


# Work that needs a live runtime (observable pool gauges, the sampler) registers here and
# runs at every configure(), so it may be declared before configure() is called.
_on_configure: list[Callable[[Runtime], None]] = []


def on_configure(callback: Callable[[Runtime], None]) -> None:
    """Run ``callback`` with the runtime now if there is one, and after each configure()."""
    _on_configure.append(callback)
    if current is not None:
        _run_contained(callback, current)


def install(runtime: Runtime | None) -> Runtime | None:
    """Make ``runtime`` current and return the previous one (tests restore it)."""
    global current
    previous, current = current, runtime
    active[:] = [] if runtime is None else [runtime]
    if runtime is not None:
        for callback in list(_on_configure):
            _run_contained(callback, runtime)
    return previous


def _reset() -> None:
    """state.reset(): no runtime, and the global providers looked at afresh."""
    install(None)
    forget_quiet()


on_reset(_reset)


def _run_contained(callback: Callable[[Runtime], None], runtime: Runtime) -> None:
    try:
        callback(runtime)
    except Exception as exc:
        report_internal_error(f"on_configure {getattr(callback, '__qualname__', callback)}", exc)
