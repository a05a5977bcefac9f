"""The heart of serve: spans in from the receiver, trace trees and the table out.

The receiver's transport threads only queue what arrived; one thread (the main one)
takes it from the queue in :meth:`ServeLoop.step`, so the assembler and the counters
need no locks. Every decision about time asks the injected clock.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence

from .._sdk.console import render_trace_tree
from .._sdk.console.text import paint
from ..receiver import ReceivedSpan
from .assembly import DEFAULT_QUIET_S, Clock, Trace, TraceAssembler, service_of
from .screen import Screen
from .stats import DEFAULT_WINDOW_S, ServiceStats

DEFAULT_INTERVAL_S = 10.0  # between plain tables when stdout is not a terminal
LIVE_REFRESH_S = 1.0  # a terminal's table is redrawn this often, so rates decay when idle


class ServeLoop:
    """Turn arriving spans into printed traces and a per-service table."""

    def __init__(
        self,
        screen: Screen,
        clock: Clock,
        *,
        color: bool = False,
        quiet_s: float = DEFAULT_QUIET_S,
        window_s: float = DEFAULT_WINDOW_S,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self._screen = screen
        self._clock = clock
        self._color = color
        self._arrivals: queue.SimpleQueue[Sequence[ReceivedSpan]] = queue.SimpleQueue()
        self.assembler = TraceAssembler(clock, quiet_s=quiet_s)
        self.stats = ServiceStats(clock, window_s=window_s)
        self._interval_s = LIVE_REFRESH_S if screen.live else interval_s
        self._next_table = clock() + self._interval_s
        self._table_version = 0  # the stats version the table last showed
        self.spans_received = 0
        self.traces_shown = 0

    def receive(self, spans: Sequence[ReceivedSpan]) -> None:
        """Called by the receiver, on its threads, with the spans of one export."""
        self._arrivals.put(spans)

    def step(self, wait_s: float = 0.0) -> None:
        """Take what arrived (waiting up to ``wait_s`` for something), print what is due."""
        for batch in self._take(wait_s):
            self.spans_received += len(batch)
            self.stats.add(batch)
            for trace in self.assembler.add(batch):
                self._show(trace)
        for trace in self.assembler.completed():
            self._show(trace)
        if self._clock() >= self._next_table:
            self._refresh_table()

    def finish(self) -> str:
        """Print every trace still waiting and the table; return the closing line."""
        for batch in self._take(0.0):
            self.spans_received += len(batch)
            self.stats.add(batch)
            self.assembler.add(batch)
        for trace in self.assembler.drain():
            self._show(trace)
        if self.stats.version != self._table_version or not self._screen.live:
            self._table_version = -1  # print it once more, whatever the screen showed
            self._refresh_table()
        requests, errors, tokens = self.stats.totals()
        services = len(self.stats.rows())
        counts = [
            _plural(self.spans_received, "span"),
            _plural(self.traces_shown, "trace"),
            f"{_plural(requests, 'request')} ({_plural(errors, 'error')})",
            f"{_plural(tokens, 'LLM token')} from {_plural(services, 'service')}",
        ]
        return f"autobot-apm serve stopped: {', '.join(counts)}."

    def _take(self, wait_s: float) -> list[Sequence[ReceivedSpan]]:
        batches = []
        try:
            first = (
                self._arrivals.get(timeout=wait_s) if wait_s > 0 else self._arrivals.get_nowait()
            )
            batches.append(first)
            while True:
                batches.append(self._arrivals.get_nowait())
        except queue.Empty:
            pass
        return batches

    def _show(self, trace: Trace) -> None:
        self.traces_shown += 1
        self._screen.say(render_trace(trace, color=self._color) + "\n")

    def _refresh_table(self) -> None:
        self._next_table = self._clock() + self._interval_s
        changed = self.stats.version != self._table_version
        if not changed and not self._screen.live:
            return  # an idle pipe gets no copies of the same table
        self._table_version = self.stats.version
        table = self.stats.render(color=self._color)
        if table:
            self._screen.show_table(paint(self.stats.title(), "header", self._color) + "\n" + table)


def render_trace(trace: Trace, *, color: bool) -> str:
    """A title naming the services, then the tree of :func:`render_trace_tree`."""
    title = paint(" -> ".join(_services_in_order(trace)), "service", color)
    if not trace.complete:
        title += paint("  (root span not received: the caller exports elsewhere)", "muted", color)
    return title + "\n" + render_trace_tree(trace.spans, color=color)


def _services_in_order(trace: Trace) -> list[str]:
    """Services by the start of their first span: the caller first."""
    ordered = sorted(trace.spans, key=lambda span: span.start_ns)
    return list(dict.fromkeys(service_of(span) for span in ordered))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"
