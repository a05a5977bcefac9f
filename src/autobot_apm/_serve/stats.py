"""Per-service request rate, errors, p50/p95 latency and LLM tokens, from spans received.

A request is a service's entry span: a SERVER or CONSUMER span, or a root (a script's
top-level operation). Rate and latency percentiles cover a sliding window of arrival
time; request, error and token counts are totals since the start. Time comes from an
injected clock, so the window moves only when a test says so.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .._sdk.console.aligned import render_table
from .._sdk.console.text import format_number, format_seconds
from ..receiver import ReceivedSpan
from .assembly import Clock, service_of

DEFAULT_WINDOW_S = 60.0
ENTRY_KINDS = frozenset({"SERVER", "CONSUMER"})
TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
MAX_SAMPLES = 10_000  # per service and window: bounds memory under a flood of requests

COLUMNS = (
    ("service", "<"),
    ("req/s", ">"),
    ("requests", ">"),
    ("errors", ">"),
    ("p50", ">"),
    ("p95", ">"),
    ("llm tokens", ">"),
)
STYLES = {0: "service", 1: "number", 4: "number", 5: "number"}


@dataclass(frozen=True)
class Row:
    """One service's line of the table."""

    service: str
    rate: float
    requests: int
    errors: int
    p50: float | None
    p95: float | None
    tokens: int


@dataclass
class _Service:
    samples: deque[tuple[float, float]] = field(default_factory=deque)  # (arrival, seconds)
    requests: int = 0
    errors: int = 0
    tokens: int = 0


def is_entry(span: ReceivedSpan) -> bool:
    return span.kind in ENTRY_KINDS or not span.parent_span_id


def tokens_of(span: ReceivedSpan) -> int:
    total = 0
    for key in TOKEN_KEYS:
        value = span.attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
    return total


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of values already sorted; None for none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class ServiceStats:
    """Counts per service, fed with spans as they arrive. Not thread-safe."""

    def __init__(self, clock: Clock, *, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._started = clock()
        self._services: dict[str, _Service] = {}
        self.version = 0  # changes with every span taken in: "is the table stale?"

    def add(self, spans: Iterable[ReceivedSpan]) -> None:
        now = self._clock()
        for span in spans:
            service = self._services.setdefault(service_of(span), _Service())
            service.tokens += tokens_of(span)
            if is_entry(span):
                service.requests += 1
                service.errors += span.status_code == "ERROR"
                service.samples.append((now, max(0.0, span.duration_s)))
                if len(service.samples) > MAX_SAMPLES:
                    service.samples.popleft()
            self.version += 1

    def rows(self) -> list[Row]:
        """One row per service, by name."""
        now = self._clock()
        # Before a whole window has passed, the rate is over the time there was.
        span_s = max(1.0, min(self._window_s, now - self._started))
        rows = []
        for name in sorted(self._services):
            service = self._services[name]
            while service.samples and now - service.samples[0][0] > self._window_s:
                service.samples.popleft()
            durations = sorted(seconds for _, seconds in service.samples)
            rows.append(
                Row(
                    name,
                    len(durations) / span_s,
                    service.requests,
                    service.errors,
                    percentile(durations, 0.50),
                    percentile(durations, 0.95),
                    service.tokens,
                )
            )
        return rows

    def title(self) -> str:
        return f"Per service (req/s, p50 and p95 over the last {self._window_s:g} s)"

    def render(self, *, color: bool) -> str:
        """The table, header first; empty when no span has come yet."""
        rows = self.rows()
        if not rows:
            return ""
        return render_table(COLUMNS, [_cells(row) for row in rows], color=color, styles=STYLES)

    def totals(self) -> tuple[int, int, int]:
        """(requests, errors, tokens) over every service, since the start."""
        services = self._services.values()
        return (
            sum(s.requests for s in services),
            sum(s.errors for s in services),
            sum(s.tokens for s in services),
        )


def _cells(row: Row) -> list[str]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else format_seconds(value)

    return [
        row.service,
        f"{row.rate:.2f}",
        str(row.requests),
        str(row.errors),
        seconds(row.p50),
        seconds(row.p95),
        format_number(row.tokens) if row.tokens else "-",
    ]
