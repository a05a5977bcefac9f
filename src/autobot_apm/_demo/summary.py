"""The metrics summary: one line per service and operation, from the metrics received.

Each service exported its metrics once, at shutdown, with cumulative temporality: the
last point of each series holds the whole run. Points of one operation that differ only
in status or result are merged (their buckets added), and p50/p95 are estimated from the
buckets (:mod:`autobot_apm._sdk.console.estimate`). Which metrics appear, and under which
name, is the table ``FAMILIES``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .._sdk.console.estimate import explicit_buckets, summarize
from .._sdk.console.text import format_seconds
from ..receiver import ReceivedMetric, ReceivedPoint, ReceivedSpan

Attributes = Mapping[str, object]
SLOW_EVENT = "autobot_apm.slow_operation"
KIND_ORDER = ("http", "db", "cache", "llm", "queue")


def _http(a: Attributes) -> str:
    return f"{a.get('http.request.method', '?')} {a.get('http.route', '')}".strip()


def _db(a: Attributes) -> str:
    summary = a.get("db.query.summary")
    return str(summary or f"{a.get('db.operation.name', '?')} {a.get('db.collection.name', '')}")


def _cache(a: Attributes) -> str:
    return f"{a.get('cache.operation', '?')} {a.get('cache.name', '?')}"


def _llm(a: Attributes) -> str:
    return f"{a.get('gen_ai.operation.name', '?')} {a.get('gen_ai.request.model', '?')}"


def _queue(a: Attributes) -> str:
    name = a.get("messaging.operation.name", "?")
    return f"{name} {a.get('messaging.destination.name', '?')}"


# duration metric -> (kind shown, how an operation is named from a point's attributes)
FAMILIES: dict[str, tuple[str, Callable[[Attributes], str]]] = {
    "http.server.request.duration": ("http", _http),
    "db.client.operation.duration": ("db", _db),
    "autobot_apm.cache.operation.duration": ("cache", _cache),
    "gen_ai.client.operation.duration": ("llm", _llm),
    "messaging.client.operation.duration": ("queue", _queue),
    "messaging.process.duration": ("queue", _queue),
}
TOKENS = "gen_ai.client.token.usage"
FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"


@dataclass(frozen=True)
class Line:
    """One row of the summary."""

    service: str
    kind: str
    name: str
    calls: int
    p50: float | None
    p95: float | None
    notes: str


@dataclass(frozen=True)
class Merged:
    """Histogram points of one operation, added together."""

    points: tuple[ReceivedPoint, ...]

    @property
    def count(self) -> int:
        return sum(point.count or 0 for point in self.points)

    def where(self, key: str, value: object = None) -> int:
        """How many measurements carry ``key`` (with ``value``, when given)."""
        return sum(
            point.count or 0
            for point in self.points
            if key in point.attributes and value in (None, point.attributes[key])
        )

    def quantiles(self) -> tuple[float | None, float | None]:
        bounds = {point.explicit_bounds for point in self.points}
        if len(bounds) != 1:
            return None, None  # unlike buckets cannot be added
        counts = [sum(c) for c in zip(*(p.bucket_counts for p in self.points), strict=True)]
        low = min((p.min for p in self.points if p.min is not None), default=-math.inf)
        high = max((p.max for p in self.points if p.max is not None), default=math.inf)
        total = sum(point.sum or 0.0 for point in self.points)
        summary = summarize(explicit_buckets(bounds.pop(), counts), self.count, total, low, high)
        return summary.p50, summary.p95


def latest_points(metrics: Iterable[ReceivedMetric]) -> dict[tuple[str, str], list[ReceivedPoint]]:
    """Per (service, metric), the last point of each attribute set."""
    latest: dict[tuple[str, str], dict[str, ReceivedPoint]] = defaultdict(dict)
    for metric in metrics:
        service = str(metric.resource.get("service.name", "?"))
        for point in metric.points:
            latest[(service, metric.name)][repr(sorted(point.attributes.items()))] = point
    return {key: list(points.values()) for key, points in latest.items()}


def group(points: Iterable[ReceivedPoint], name: Callable[[Attributes], str]) -> dict[str, Merged]:
    grouped: dict[str, list[ReceivedPoint]] = defaultdict(list)
    for point in points:
        grouped[name(point.attributes)].append(point)
    return {key: Merged(tuple(value)) for key, value in grouped.items()}


def summary_lines(
    metrics: Sequence[ReceivedMetric], spans: Sequence[ReceivedSpan], services: Sequence[str]
) -> list[Line]:
    """The summary rows, by service (in ``services`` order), kind, then name."""
    latest = latest_points(metrics)
    slow = _slow_operations(spans)
    lines = []
    for (service, metric), points in latest.items():
        if metric not in FAMILIES:
            continue
        kind, name = FAMILIES[metric]
        for operation, merged in group(points, name).items():
            notes = _notes(merged, slow.get((service, operation), 0))
            if kind == "llm":
                notes += _llm_notes(latest, service, operation)
            p50, p95 = merged.quantiles()
            lines.append(Line(service, kind, operation, merged.count, p50, p95, ", ".join(notes)))
    order = {name: index for index, name in enumerate(services)}

    def position(line: Line) -> tuple[int, int, str]:
        return order.get(line.service, len(order)), KIND_ORDER.index(line.kind), line.name

    return sorted(lines, key=position)


def _notes(merged: Merged, slow: int) -> list[str]:
    notes = []
    if errors := merged.where("error.type"):
        notes.append(f"{errors} error{'s' * (errors != 1)}")
    if slow:
        notes.append(f"{slow} slow")
    hits, misses = merged.where("cache.result", "hit"), merged.where("cache.result", "miss")
    if hits + misses:
        notes.append(f"hit ratio {hits / (hits + misses):.0%} ({hits} hit, {misses} miss)")
    return notes


def _llm_notes(
    latest: Mapping[tuple[str, str], list[ReceivedPoint]], service: str, operation: str
) -> list[str]:
    tokens = group(latest.get((service, TOKENS), []), _llm).get(operation)
    first_chunk = group(latest.get((service, FIRST_CHUNK), []), _llm).get(operation)
    notes = []
    if tokens is not None:
        used = {kind: _total(tokens, kind) for kind in ("input", "output")}
        notes.append(f"tokens {used['input']:.0f} in / {used['output']:.0f} out")
    if first_chunk is not None and (p50 := first_chunk.quantiles()[0]) is not None:
        notes.append(f"first chunk p50 {format_seconds(p50)}")
    return notes


def _total(tokens: Merged, kind: str) -> float:
    return sum(
        point.sum or 0.0
        for point in tokens.points
        if point.attributes.get("gen_ai.token.type") == kind
    )


def _slow_operations(spans: Iterable[ReceivedSpan]) -> dict[tuple[str, str], int]:
    """Per (service, span name), how many spans carry the slow-operation event."""
    slow: dict[tuple[str, str], int] = defaultdict(int)
    for span in spans:
        if any(event.name == SLOW_EVENT for event in span.events):
            slow[(str(span.resource.get("service.name", "?")), span.name)] += 1
    return slow
