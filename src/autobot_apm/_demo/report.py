"""What the demo prints at the end: two traces as trees, slow queries, a metrics summary.

The traces are picked by their content, not by knowing which request made them: the
successful trace that crosses the most services (the full request), and the first trace
with an error (the planned failure).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from .._sdk.console import render_trace_tree
from .._sdk.console.aligned import render_table
from .._sdk.console.text import format_nanos, format_seconds, paint
from ..receiver import ReceivedMetric, ReceivedSpan
from .summary import SLOW_EVENT, Line, summary_lines

Trace = list[ReceivedSpan]

SUMMARY_COLUMNS = (
    ("service", "<"),
    ("kind", "<"),
    ("operation", "<"),
    ("calls", ">"),
    ("p50", ">"),
    ("p95", ">"),
    ("notes", "<"),
)
SUMMARY_STYLES = {0: "service", 1: "kind", 2: "name", 4: "number", 5: "number", 6: "muted"}


def traces(spans: Sequence[ReceivedSpan]) -> list[Trace]:
    """Spans grouped by trace, traces in the order they started."""
    grouped: dict[str, Trace] = defaultdict(list)
    for span in sorted(spans, key=lambda span: span.start_ns):
        grouped[span.trace_id].append(span)
    return list(grouped.values())


def services_of(trace: Trace) -> set[str]:
    return {str(span.resource.get("service.name", "?")) for span in trace}


def has_error(trace: Trace) -> bool:
    return any(span.status_code == "ERROR" for span in trace)


def full_request(all_traces: Sequence[Trace]) -> Trace | None:
    """The successful trace through the most services, then with the most spans.

    Of equals the latest wins: the first requests pay for cold connections and caches,
    which is not what a request usually costs.
    """
    ok = [trace for trace in reversed(all_traces) if not has_error(trace)]
    return max(ok, key=lambda trace: (len(services_of(trace)), len(trace)), default=None)


def failed_request(all_traces: Sequence[Trace]) -> Trace | None:
    return next((trace for trace in all_traces if has_error(trace)), None)


def render_report(
    spans: Sequence[ReceivedSpan],
    metrics: Sequence[ReceivedMetric],
    services: Sequence[str],
    *,
    color: bool,
) -> str:
    """The whole report, sections separated by blank lines."""
    all_traces = traces(spans)
    sections = []
    for title, trace in (
        ("A full request, across services", full_request(all_traces)),
        ("A failed request: the error travels back to the caller", failed_request(all_traces)),
    ):
        if trace is not None:
            sections.append(_title(title, color) + "\n" + render_trace_tree(trace, color=color))
    if slow := slow_queries(spans):
        sections.append(_title("Slow database calls", color) + "\n" + "\n".join(slow))
    lines = summary_lines(metrics, spans, services)
    if lines:
        sections.append(
            _title("Metrics per service (p50 and p95 estimated from histogram buckets)", color)
            + "\n"
            + render_table(
                SUMMARY_COLUMNS,
                [_cells(line) for line in lines],
                color=color,
                styles=SUMMARY_STYLES,
            )
        )
    return "\n\n".join(sections)


def slow_queries(spans: Sequence[ReceivedSpan]) -> list[str]:
    """One line per span with the slow-operation event: where, what, how slow."""
    lines = []
    for span in spans:
        for event in span.events:
            if event.name == SLOW_EVENT:
                threshold = event.attributes.get("threshold_s")
                limit = f" (threshold {format_seconds(threshold)})" if threshold else ""
                service = span.resource.get("service.name", "?")
                took = format_nanos(span.end_ns - span.start_ns)
                lines.append(f"  {service}: {span.name} took {took}{limit}")
    return lines


def _title(text: str, color: bool) -> str:
    return paint(text, "header", color)


def _cells(line: Line) -> list[str]:
    def seconds(value: float | None) -> str:
        return format_seconds(value) if value is not None else ""

    return [
        line.service,
        line.kind,
        line.name,
        str(line.calls),
        seconds(line.p50),
        seconds(line.p95),
        line.notes,
    ]
