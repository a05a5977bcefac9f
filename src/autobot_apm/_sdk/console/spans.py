"""The console span exporter: each trace printed as one tree, when its local root ends."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..._tracking.errors import contained
from .record import SpanView
from .render import render_trace_tree
from .text import wants_color, write_text

DEFAULT_MAX_BUFFERED_SPANS = 10_000


class ConsoleSpanExporter(SpanExporter):
    """Print finished traces as trees on a terminal (the default with no collector).

    Spans end children first, so printing each span as it ends would show a trace
    upside down and interleaved with others. Instead spans wait, grouped by trace, until
    the trace's local root ends (a span with no parent, or whose parent is in another
    process), and the whole tree is printed at once. Spans still waiting are printed on
    ``force_flush()`` and ``shutdown()``. At most ``max_buffered_spans`` wait; beyond
    that the oldest traces are printed as they are, so a root that never ends cannot
    grow memory without limit.

    ``stream`` defaults to ``sys.stdout``; ``color`` defaults to on for a terminal
    unless ``NO_COLOR`` is set. Safe to call from several threads.

    Example::

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        color: bool | None = None,
        *,
        max_buffered_spans: int = DEFAULT_MAX_BUFFERED_SPANS,
    ) -> None:
        self._stream = stream
        self._color = wants_color(self._output) if color is None else color
        self._max_buffered_spans = max(1, max_buffered_spans)
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()  # keeps two trees from interleaving on screen
        self._waiting: OrderedDict[str, list[SpanView]] = OrderedDict()
        self._waiting_count = 0
        self._shut_down = False

    @property
    def _output(self) -> TextIO:
        # Looked up at write time, so a later redirection of sys.stdout is honoured.
        return self._stream if self._stream is not None else sys.stdout

    @contained(SpanExportResult.FAILURE)
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Buffer ``spans``; print every trace whose local root is among them."""
        if self._shut_down:
            return SpanExportResult.FAILURE
        with self._buffer_lock:
            ready = [self._add(span) for span in spans]
            ready.extend(self._evict_oldest())
        self._print([trace for trace in ready if trace])
        return SpanExportResult.SUCCESS

    @contained(False)
    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Print every trace still waiting for its root, oldest first."""
        self._print(self._take_all())
        return True

    @contained(None)
    def shutdown(self) -> None:
        """Print what is still waiting; later exports are refused."""
        self._shut_down = True
        self._print(self._take_all())

    def _add(self, span: ReadableSpan) -> list[SpanView]:
        """Buffer one span; return its trace's spans if it is a local root, else []."""
        view = SpanView.from_readable_span(span)
        if span.parent is None or span.parent.is_remote:
            waiting = self._waiting.pop(view.trace_id, [])
            self._waiting_count -= len(waiting)
            return [*waiting, view]
        self._waiting.setdefault(view.trace_id, []).append(view)
        # Moved to the end: the trace that least recently saw a span is evicted first.
        self._waiting.move_to_end(view.trace_id)
        self._waiting_count += 1
        return []

    def _evict_oldest(self) -> list[list[SpanView]]:
        evicted = []
        while self._waiting_count > self._max_buffered_spans:
            _, spans = self._waiting.popitem(last=False)
            self._waiting_count -= len(spans)
            evicted.append(spans)
        return evicted

    def _take_all(self) -> list[list[SpanView]]:
        with self._buffer_lock:
            traces = list(self._waiting.values())
            self._waiting.clear()
            self._waiting_count = 0
        return traces

    def _print(self, traces: list[list[SpanView]]) -> None:
        if not traces:
            return
        text = "".join(render_trace_tree(spans, color=self._color) + "\n\n" for spans in traces)
        with self._write_lock:
            write_text(self._output, text)
