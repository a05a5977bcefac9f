"""Thread-safe storage of what arrived, with waiting and look-ups for tests."""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ._model import Batch, ReceivedLog, ReceivedMetric, ReceivedPoint, ReceivedRequest, ReceivedSpan

T = TypeVar("T")
Ready = Callable[[list[T]], bool]

_SHOWN = 20  # records named in a timeout message; more would bury the point


class TelemetryStore:
    """Every record and request, in arrival order; readers get copies."""

    def __init__(self, current_mode: Callable[[], str]) -> None:
        self._current_mode = current_mode
        self._changed = threading.Condition()
        self._version = 0
        self._spans: list[ReceivedSpan] = []
        self._metrics: list[ReceivedMetric] = []
        self._logs: list[ReceivedLog] = []
        self._requests: list[ReceivedRequest] = []

    def add(self, request: ReceivedRequest, batch: Batch | None) -> None:
        with self._changed:
            self._requests.append(request)
            if batch is not None:
                self._spans.extend(batch.spans)
                self._metrics.extend(batch.metrics)
                self._logs.extend(batch.logs)
            self._version += 1
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            for records in (self._spans, self._metrics, self._logs, self._requests):
                records.clear()
            self._version += 1

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._spans)

    def metrics(self) -> list[ReceivedMetric]:
        with self._changed:
            return list(self._metrics)

    def logs(self) -> list[ReceivedLog]:
        with self._changed:
            return list(self._logs)

    def requests(self) -> list[ReceivedRequest]:
        with self._changed:
            return list(self._requests)

    # --- waiting -------------------------------------------------------------------

    def wait(
        self, read: Callable[[], list[T]], ready: Ready[T], wanted: str, timeout: float
    ) -> list[T]:
        """Return ``read()`` once ``ready`` accepts it; raise TimeoutError naming what came.

        ``ready`` is user code: it runs outside the lock, so it may read the store.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                version = self._version
            records = read()
            if ready(records):
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(self._timeout_message(wanted, timeout, records))
            with self._changed:
                self._changed.wait_for(functools.partial(self._changed_since, version), remaining)

    def _changed_since(self, version: int) -> bool:
        return self._version != version

    def _timeout_message(self, wanted: str, timeout: float, records: Sequence[Any]) -> str:
        kinds = Counter(describe(record) for record in records)  # keeps arrival order
        shown = ", ".join(
            f"{name} x {n}" if n > 1 else name for name, n in list(kinds.items())[:_SHOWN]
        )
        more = f" and {len(kinds) - _SHOWN} more kinds" if len(kinds) > _SHOWN else ""
        tally = Counter(f"{r.protocol} {r.signal} answered {r.mode}" for r in self.requests())
        requests = "; ".join(f"{count} x {what}" for what, count in sorted(tally.items()))
        return (
            f"OTLP receiver waited {timeout:g} s for {wanted}. "
            f"Received {len(records)}: [{shown}{more}]. "
            f"Export requests: {requests or 'none'}. Mode is {self._current_mode()!r}."
        )

    # --- look-ups ------------------------------------------------------------------

    def find_spans(self, name: str | None, attributes: dict[str, Any]) -> list[ReceivedSpan]:
        return [
            span
            for span in self.spans()
            if (name is None or span.name == name)
            and all(
                key in span.attributes and span.attributes[key] == value
                for key, value in attributes.items()
            )
        ]

    def metric_points(self, name: str) -> list[ReceivedPoint]:
        return [
            point for metric in self.metrics() if metric.name == name for point in metric.points
        ]

    def latest_metric_points(self, name: str) -> list[ReceivedPoint]:
        """Per attribute set, the point of the last export that carried it."""
        latest: dict[str, ReceivedPoint] = {}
        for point in self.metric_points(name):
            latest[attribute_key(point.attributes)] = point
        return list(latest.values())


def wait_condition(
    predicate: Callable[[list[Any]], bool] | int, what: str
) -> tuple[Callable[[list[Any]], bool], str]:
    """A count or a predicate as (ready, description of what is awaited)."""
    if isinstance(predicate, int):
        count = predicate
        return (lambda records: len(records) >= count), f"{count} {what}"
    name = getattr(predicate, "__name__", "<lambda>")
    return predicate, f"{what} satisfying {'the predicate' if name == '<lambda>' else name}"


def attribute_key(attributes: dict[str, Any]) -> str:
    # repr, not a frozenset: attribute values may be unhashable (maps inside arrays).
    return repr(sorted(attributes.items(), key=lambda item: item[0]))


def describe(record: Any) -> str:
    """A short name for a record in an error message."""
    if isinstance(record, ReceivedSpan):
        return f"{record.name!r} ({record.kind})"
    if isinstance(record, ReceivedMetric):
        return f"{record.name!r} ({record.kind})"
    if isinstance(record, ReceivedLog):
        return repr(str(record.body)[:40])
    return repr(record)
