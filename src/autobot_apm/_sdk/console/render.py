"""Text views of traces and metrics, shared by the console exporters and ``autobot-apm demo``.

A trace reads top-down as a tree, one span a line::

    trace 4bf92f3577b34da6a3ce929d0e0e4736 · 5 spans · 142 ms · 1 error
       0 µs   142 ms  srv  POST /chat          status=200
    1.20 ms  12.0 ms  cli  ├─ SELECT users     db=postgresql query="SELECT * FROM users…"
    14.0 ms   120 ms  cli  ├─ chat gpt-4o      tokens_in=120 tokens_out=450 ttfc=310ms
    14.1 ms   300 µs  int  │  └─ cache lookup  cache=hit
     135 ms  5.00 ms  int  └─ render           ✗ ValueError: boom

Columns: start offset from the first span, duration, kind, the tree and span name, then
the few attributes worth a glance (the allow-list in :mod:`.details`). A service column appears when
the spans come from more than one service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .details import details, error_mark
from .record import SpanEventView, SpanRecord, SpanView
from .table import MetricRow, render_metrics_table
from .text import format_nanos, paint, shorten

__all__ = [
    "MetricRow",
    "SpanEventView",
    "SpanRecord",
    "SpanView",
    "render_metrics_table",
    "render_trace_tree",
]

KIND_SHORT = {
    "SERVER": "srv",
    "CLIENT": "cli",
    "INTERNAL": "int",
    "PRODUCER": "prod",
    "CONSUMER": "cons",
    "UNSPECIFIED": "int",  # the specification says to treat it as INTERNAL
}
NAME_WIDTH_LIMIT = 48  # beyond this, aligning the attributes costs more width than it helps
NAME_LIMIT = 80
SERVICE_LIMIT = 24


def render_trace_tree(
    spans: Iterable[SpanRecord], *, color: bool, now_ns: int | None = None
) -> str:
    """Render spans as one tree per trace, traces in order of their first span.

    A span whose parent is not among ``spans`` starts a subtree of its own, so a partial
    trace (a remote caller, a root still running) still reads well. ``now_ns`` gives a
    running span (``end_ns=None``) its duration so far. ANSI colour only when ``color``.
    """
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in sorted(spans, key=_start_order):
        traces[span.trace_id].append(span)
    return "\n\n".join(_render_one(group, color, now_ns) for group in traces.values())


def _render_one(spans: Sequence[SpanRecord], color: bool, now_ns: int | None) -> str:
    first_start = min(span.start_ns for span in spans)
    services = {_service(span) for span in spans}
    rows = [
        _Row.of(span, prefix, first_start, now_ns, len(services) > 1)
        for span, prefix in _walk(spans)
    ]
    return "\n".join([_header(spans, color, now_ns), *_align(rows, color)])


def _start_order(span: SpanRecord) -> tuple[int, str]:
    return span.start_ns, span.name


def _service(span: SpanRecord) -> str:
    return str(span.resource.get("service.name", "unknown_service"))


def _walk(spans: Sequence[SpanRecord]) -> Iterator[tuple[SpanRecord, str]]:
    """Depth-first (span, tree prefix) pairs; orphans, then cycle members, become roots."""
    ids = {span.span_id for span in spans}
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    roots = []
    for span in spans:  # already in start order, so children lists are too
        parent = span.parent_span_id
        if parent is not None and parent in ids and parent != span.span_id:
            children[parent].append(span)
        else:
            roots.append(span)
    visited: set[int] = set()
    for root in roots:
        yield from _walk_from(root, children, visited)
    # Spans whose parents form a cycle are reachable from no root: start at the earliest.
    for span in spans:
        yield from _walk_from(span, children, visited)


def _walk_from(
    root: SpanRecord, children: dict[str, list[SpanRecord]], visited: set[int]
) -> Iterator[tuple[SpanRecord, str]]:
    # An explicit stack: a trace thousands of spans deep must not hit the recursion limit.
    stack: list[tuple[SpanRecord, str, str]] = [(root, "", "")]
    while stack:
        span, prefix, child_prefix = stack.pop()
        if id(span) in visited:
            continue
        visited.add(id(span))
        yield span, prefix
        kids = [kid for kid in children.get(span.span_id, ()) if id(kid) not in visited]
        for position, kid in reversed(list(enumerate(kids))):
            last = position == len(kids) - 1
            branch, trunk = ("└─ ", "   ") if last else ("├─ ", "│  ")
            stack.append((kid, child_prefix + branch, child_prefix + trunk))


def _header(spans: Sequence[SpanRecord], color: bool, now_ns: int | None) -> str:
    ends = [_end(span, now_ns) for span in spans]
    known_ends = [end for end in ends if end is not None]
    parts = [f"trace {spans[0].trace_id}", f"{len(spans)} span{'s' * (len(spans) != 1)}"]
    if known_ends:
        parts.append(format_nanos(max(known_ends) - min(span.start_ns for span in spans)))
    errors = sum(span.status_code == "ERROR" for span in spans)
    header = paint(" · ".join(parts), "header", color)
    if errors:
        header += paint(f" · {errors} error{'s' * (errors != 1)}", "error", color)
    return header


def _end(span: SpanRecord, now_ns: int | None) -> int | None:
    return span.end_ns if span.end_ns is not None else now_ns


@dataclass(frozen=True)
class _Row:
    """The plain-text cells of one line, before alignment and colour."""

    offset: str
    duration: str
    service: str | None
    kind: str
    prefix: str
    name: str
    details: tuple[tuple[str, str], ...]  # (label, value) pairs
    mark: str

    @classmethod
    def of(
        cls, span: SpanRecord, prefix: str, first_start: int, now_ns: int | None, services: bool
    ) -> _Row:
        mark = error_mark(span)
        return cls(
            offset=format_nanos(span.start_ns - first_start),
            duration=_duration(span, now_ns),
            service=shorten(_service(span), SERVICE_LIMIT) if services else None,
            kind=_short_kind(span.kind),
            prefix=prefix,
            name=shorten(span.name, NAME_LIMIT),
            details=tuple(details(span, mark)),
            mark=mark,
        )


def _short_kind(kind: str) -> str:
    plain = kind.upper().removeprefix("SPAN_KIND_")  # OTLP's enum spelling, if it slips in
    return KIND_SHORT.get(plain, plain.lower()[:4])


def _duration(span: SpanRecord, now_ns: int | None) -> str:
    if span.end_ns is not None:
        return format_nanos(span.end_ns - span.start_ns)
    return "…" if now_ns is None else format_nanos(now_ns - span.start_ns) + "…"


def _align(rows: Sequence[_Row], color: bool) -> Iterator[str]:
    offset_width = max(len(row.offset) for row in rows)
    duration_width = max(len(row.duration) for row in rows)
    service_width = max(len(row.service or "") for row in rows)
    kind_width = max(len(row.kind) for row in rows)
    name_width = min(NAME_WIDTH_LIMIT, max(len(row.prefix + row.name) for row in rows))
    for row in rows:
        cells = [
            paint(row.offset.rjust(offset_width), "muted", color),
            paint(row.duration.rjust(duration_width), "number", color),
        ]
        if row.service is not None:
            cells.append(paint(row.service.ljust(service_width), "service", color))
        cells.append(paint(row.kind.ljust(kind_width), "kind", color))
        pairs = [paint(f"{label}=", "muted", color) + value for label, value in row.details]
        # Two spaces set the error mark apart from the attributes before it.
        tail = "  ".join(filter(None, [" ".join(pairs), paint(row.mark, "error", color)]))
        name = row.name.ljust(name_width - len(row.prefix)) if tail else row.name
        style = "error" if row.mark else "name"
        cells.append(paint(row.prefix, "muted", color) + paint(name, style, color))
        yield "  ".join(cells) + ("  " + tail if tail else "")
