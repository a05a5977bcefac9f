"""Group spans arriving over OTLP into whole traces, and say when a trace is done.

Spans of one trace come from several processes, each exporting in its own batches, so
no single span marks the end of a trace. A trace counts as complete once its root span
(the one without a parent) has arrived and nothing more came for it during a quiet
period. A trace whose root never comes (its caller exports elsewhere) is given up on
after a longer wait and shown as it is. Time comes from an injected clock, so tests
move it by hand instead of sleeping.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..receiver import ReceivedSpan

Clock = Callable[[], float]  # seconds, monotonic

DEFAULT_QUIET_S = 2.0  # a child span exported a batch later arrives well within this
DEFAULT_GIVE_UP_S = 30.0  # no root by then: print what came rather than hold it forever
DEFAULT_MAX_PENDING_SPANS = 50_000  # memory bound while roots are missing


@dataclass
class _Pending:
    spans: list[ReceivedSpan] = field(default_factory=list)
    last_arrival: float = 0.0
    has_root: bool = False


@dataclass(frozen=True)
class Trace:
    """The spans of one trace, in arrival order; ``complete`` is False without a root."""

    trace_id: str
    spans: tuple[ReceivedSpan, ...]
    complete: bool

    @property
    def services(self) -> set[str]:
        return {service_of(span) for span in self.spans}


def service_of(span: ReceivedSpan) -> str:
    return str(span.resource.get("service.name", "unknown_service"))


class TraceAssembler:
    """Collect spans by trace id; hand out each trace once it is done.

    Not thread-safe: one thread feeds it and reads from it.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        quiet_s: float = DEFAULT_QUIET_S,
        give_up_s: float = DEFAULT_GIVE_UP_S,
        max_pending_spans: int = DEFAULT_MAX_PENDING_SPANS,
    ) -> None:
        self._clock = clock
        self._quiet_s = quiet_s
        self._give_up_s = max(give_up_s, quiet_s)
        self._max_pending_spans = max(1, max_pending_spans)
        self._pending: OrderedDict[str, _Pending] = OrderedDict()  # oldest first
        self._pending_spans = 0

    def add(self, spans: Iterable[ReceivedSpan]) -> list[Trace]:
        """Keep ``spans``; return traces pushed out to stay under the memory bound."""
        now = self._clock()
        for span in spans:
            pending = self._pending.get(span.trace_id)
            if pending is None:
                pending = self._pending[span.trace_id] = _Pending()
            pending.spans.append(span)
            pending.last_arrival = now
            pending.has_root = pending.has_root or not span.parent_span_id
            self._pending_spans += 1
        evicted = []
        while self._pending_spans > self._max_pending_spans:
            evicted.append(self._release(next(iter(self._pending))))
        return evicted

    def completed(self) -> list[Trace]:
        """Traces done by now: quiet since their root came, or given up on."""
        now = self._clock()
        done = [
            trace_id
            for trace_id, pending in self._pending.items()
            if now - pending.last_arrival
            >= (self._quiet_s if pending.has_root else self._give_up_s)
        ]
        return [self._release(trace_id) for trace_id in done]

    def drain(self) -> list[Trace]:
        """Every trace still waiting, oldest first (at shutdown)."""
        return [self._release(trace_id) for trace_id in list(self._pending)]

    def _release(self, trace_id: str) -> Trace:
        pending = self._pending.pop(trace_id)
        self._pending_spans -= len(pending.spans)
        return Trace(trace_id, tuple(pending.spans), pending.has_root)
