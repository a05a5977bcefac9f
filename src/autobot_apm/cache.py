"""track_cache: cache look-ups and writes, with hit/miss.

OpenTelemetry has no cache conventions yet (semantic-conventions#1747 is open), so the
names here are this library's own and documented as such:

* span ``{operation} {cache.name}``, INTERNAL (CLIENT when a backend ``system`` such as
  ``redis`` is named, which also sets ``db.system.name``), attributes ``cache.name``,
  ``cache.operation`` and, once known, ``cache.hit`` (bool);
* counter ``autobot_apm.cache.operations`` and histogram
  ``autobot_apm.cache.operation.duration`` (s), both by ``cache.name``,
  ``cache.operation``, ``cache.result`` (``hit``/``miss``) and ``error.type``, so a hit
  ratio is one query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry.trace import SpanKind

from ._tracking.attributes import OTHER, text_argument
from ._tracking.dispatch import target_name
from ._tracking.handle import Operation
from ._tracking.memo import memoized, plain_key
from ._tracking.options import NO_EXTRAS, ExtraAttributes, MetricValue, extra_attributes, is_bare
from ._tracking.runtime import DB_DURATION_BUCKETS, MetricSpec
from ._tracking.tracker import Tracker

__all__ = ["CacheOperation", "track_cache"]

F = TypeVar("F", bound=Callable[..., Any])
HitPredicate = Callable[[Any], bool]

CACHE_OPERATIONS = MetricSpec(
    "autobot_apm.cache.operations", "counter", "{operation}",
    "Cache operations, by cache name, operation and result (hit or miss).",
)  # fmt: skip
CACHE_DURATION = MetricSpec(
    "autobot_apm.cache.operation.duration", "histogram", "s",
    "Duration of cache operations.", DB_DURATION_BUCKETS,
)  # fmt: skip

# For these operations a decorated function's result tells hit from miss (None = miss).
LOOKUP_OPERATIONS = frozenset({"get", "mget", "get_many", "fetch", "lookup", "read"})


def _none_is_miss(result: Any) -> bool:
    return result is not None


class CacheOperation(Operation):
    """A tracked cache call. ``hit()`` / ``miss()`` report the outcome of a look-up."""

    __slots__ = ("_hit",)

    def _on_start(self) -> None:
        self._hit: bool | None = None

    def hit(self) -> None:
        """The look-up found the key."""
        self._hit = True

    def miss(self) -> None:
        """The look-up did not find the key."""
        self._hit = False

    def _on_result(self, result: Any) -> Any:
        predicate = getattr(self._tracker, "hit_predicate", None)
        if self._hit is None and predicate is not None:
            self._hit = bool(predicate(result))
        return result

    def _on_end(self, duration: float) -> None:
        hit = self._hit
        if hit is not None:
            self.span.set_attribute("cache.hit", hit)
            tracker = self._tracker
            if self._shared_metric_attributes and isinstance(tracker, CacheTracker):
                # Nothing added to the tracker's labels: its ready-made set for this
                # result, shared as they are, instead of a copy per call.
                self._metric_attributes = tracker.result_attributes[hit]
            else:
                self._set_metric_attribute("cache.result", "hit" if hit else "miss")
        if self._runtime is not None:
            self._runtime.counter(CACHE_OPERATIONS).add(1, self._metric_attributes)
            self._runtime.histogram(CACHE_DURATION).record(duration, self._metric_attributes)


class CacheTracker(Tracker[CacheOperation]):
    """What ``track_cache(...)`` returns."""

    operation_class = CacheOperation

    def __init__(
        self,
        name: object,
        *,
        operation: object,
        hit: HitPredicate | None,
        system: object,
        extras: ExtraAttributes = NO_EXTRAS,
    ) -> None:
        if hit is not None and not callable(hit):
            raise TypeError(
                f"track_cache(hit=...) takes a predicate called with the result, "
                f"not {type(hit).__name__}"
            )
        # Any name, operation or system is accepted: text, cut to a limit, never raising.
        name = text_argument(name) or OTHER
        operation = text_argument(operation) or "get"
        system = text_argument(system)
        default = _none_is_miss if operation in LOOKUP_OPERATIONS else None
        self.hit_predicate = hit if hit is not None else default
        attributes = {"cache.name": name, "cache.operation": operation}
        span_attributes = {**attributes, "db.system.name": system} if system else attributes
        super().__init__(
            span_name=f"{operation} {name}",
            span_kind=SpanKind.CLIENT if system else SpanKind.INTERNAL,
            span_attributes={**extras.span, **span_attributes},
            metric_attributes={**extras.metric, **attributes},
        )
        # The metric labels of a hit and of a miss, built once (read-only, like the
        # tracker's own: a call that adds a label copies them first).
        self.result_attributes: dict[bool, dict[str, str | int]] = {
            result: {**self.metric_attributes, "cache.result": "hit" if result else "miss"}
            for result in (True, False)
        }


@overload
def track_cache(name: F, /) -> F: ...
@overload
def track_cache(
    name: str,
    /,
    operation: str = "get",
    *,
    hit: HitPredicate | None = None,
    system: str | None = None,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> CacheTracker: ...
def track_cache(
    name: Any,
    /,
    operation: str = "get",
    *,
    hit: HitPredicate | None = None,
    system: str | None = None,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> Any:
    """Track a cache operation and whether it hit.

    As a decorator on a look-up (``operation`` ``get`` and the like), a ``None`` result
    counts as a miss unless ``hit=`` gives another predicate; in a ``with`` block call
    ``op.hit()`` or ``op.miss()``. ``system`` names a backend (``redis``, ``memcached``).

    Extra keywords, as for every tracker: ``attributes={...}`` are span attributes (any
    key); ``metric_attributes={...}`` are low-cardinality labels of both cache metrics,
    also set on the span; a keyword with a dot in its name is a span attribute; any other
    keyword is a TypeError here.

    Example::

        @apm.track_cache("sessions")
        def load_session(session_id):
            return redis.get(session_id)   # None -> miss
    """
    if is_bare(name):
        return CacheTracker(target_name(name), operation="get", hit=None, system=None)(name)
    if hit is None and attributes is None and metric_attributes is None:
        key = plain_key(name, operation, options={"system": system, **dotted})
        if key is not None:  # the with form builds one per pass: build it once
            return _built_cache_tracker(key)
    return _cache_tracker(name, operation, hit, system, attributes, metric_attributes, **dotted)


def _cache_tracker(
    name: object,
    operation: object,
    hit: HitPredicate | None = None,
    system: object = None,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> CacheTracker:
    extras = extra_attributes(
        "track_cache",
        ("operation", "hit", "system"),
        dotted,
        attributes=attributes,
        metric_attributes=metric_attributes,
    )
    return CacheTracker(name, operation=operation, hit=hit, system=system, extras=extras)


_built_cache_tracker = memoized(_cache_tracker)
