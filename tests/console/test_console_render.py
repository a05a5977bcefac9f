"""The pure text views: trace trees over neutral span records, and the metrics table."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from autobot_apm._sdk.console.render import (
    MetricRow,
    SpanEventView,
    SpanView,
    render_metrics_table,
    render_trace_tree,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMING = re.compile(r"^ *[\d.]+ [µm]?s +[\d.]+ [µm]?s  ")


def without_timing(text: str) -> list[str]:
    """The span lines of a rendered trace, without the offset and duration columns."""
    return [TIMING.sub("", line) for line in text.splitlines()[1:]]


def span(
    name: str,
    span_id: str,
    parent: str | None,
    start_ms: float,
    end_ms: float | None,
    *,
    kind: str = "INTERNAL",
    service: str = "main",
    status: str = "UNSET",
    message: str | None = None,
    trace_id: str = TRACE,
    **attributes: object,
) -> SpanView:
    return SpanView(
        name=name,
        kind=kind,
        trace_id=trace_id,
        span_id=span_id.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        start_ns=T0 + int(start_ms * MS),
        end_ns=None if end_ms is None else T0 + int(end_ms * MS),
        attributes={key.replace("__", "."): value for key, value in attributes.items()},
        resource={"service.name": service},
        status_code=status,
        status_message=message,
    )


def chat_trace() -> list[SpanView]:
    """A server span with a query, an LLM call holding a cache look-up, and a failure."""
    return [
        span("render", "5", "1", 135, 140, status="ERROR", message="ValueError: boom",
             error__type="ValueError"),
        span("cache lookup", "4", "3", 14.1, 14.4, cache__hit=True),
        span("chat gpt-4o", "3", "1", 14, 134, kind="CLIENT", gen_ai__usage__input_tokens=120,
             gen_ai__usage__output_tokens=450, gen_ai__response__time_to_first_chunk=0.31),
        span("SELECT users", "2", "1", 1.2, 13.2, kind="CLIENT", db__system__name="postgresql",
             db__query__summary="SELECT users", db__query__text="SELECT * FROM users WHERE id = ?"),
        span("POST /chat", "1", None, 0, 142, kind="SERVER", http__route="/chat",
             http__request__method="POST", http__response__status_code=200),
    ]  # fmt: skip


class TestRenderTraceTree:
    def test_full_tree_layout(self) -> None:
        """A trace reads as a tree: offset, duration, kind, branch and name, key attributes."""
        expected = "\n".join(
            [
                f"trace {TRACE} · 5 spans · 142 ms · 1 error",
                "   0 µs   142 ms  srv  POST /chat          status=200",
                "1.20 ms  12.0 ms  cli  ├─ SELECT users     "
                'db=postgresql query="SELECT * FROM users WHERE id = ?"',
                "14.0 ms   120 ms  cli  ├─ chat gpt-4o      "
                "tokens_in=120 tokens_out=450 ttfc=310ms",
                "14.1 ms   300 µs  int  │  └─ cache lookup  cache=hit",
                " 135 ms  5.00 ms  int  └─ render           ✗ ValueError: boom",
            ]
        )  # fmt: skip

        assert expected == render_trace_tree(chat_trace(), color=False)

    def test_orphans_are_roots_in_start_order(self) -> None:
        """Spans whose parent is missing start their own subtrees, earliest first."""
        spans = [
            span("late orphan", "3", "99", 5, 6),
            span("early orphan", "1", "98", 1, 4),
            span("child", "2", "1", 2, 3),
        ]

        lines = without_timing(render_trace_tree(spans, color=False))

        assert ["int  early orphan", "int  └─ child", "int  late orphan"] == lines

    def test_service_column_only_with_several_services(self) -> None:
        """The service name is shown, aligned, only when spans come from several services."""
        one = [span("GET /", "1", None, 0, 2, kind="SERVER")]
        several = [*one, span("GET /items", "2", "1", 1, 2, kind="SERVER", service="inventory")]

        assert "main" not in render_trace_tree(one, color=False)
        lines = without_timing(render_trace_tree(several, color=False))
        assert ["main       srv  GET /", "inventory  srv  └─ GET /items"] == lines

    def test_no_escape_codes_without_color(self) -> None:
        """color=False emits no ANSI escape at all."""
        assert "\x1b" not in render_trace_tree(chat_trace(), color=False)

    def test_color_keeps_the_same_text_and_alignment(self) -> None:
        """With color=True, removing the escapes gives exactly the plain rendering."""
        colored = render_trace_tree(chat_trace(), color=True)

        assert "\x1b[" in colored
        assert render_trace_tree(chat_trace(), color=False) == ANSI.sub("", colored)

    def test_running_span_duration(self) -> None:
        """A span without an end shows its age with now_ns, else an ellipsis."""
        running = [span("slow root", "1", None, 0, None)]

        assert "5.00 ms…" in render_trace_tree(running, color=False, now_ns=T0 + 5 * MS)
        assert "0 µs  …  int  slow root" in render_trace_tree(running, color=False)

    def test_parent_cycle_still_renders_every_span_once(self) -> None:
        """Malformed input whose parents form a cycle renders each span exactly once."""
        spans = [span("a", "1", "2", 0, 3), span("b", "2", "1", 1, 2)]

        lines = without_timing(render_trace_tree(spans, color=False))

        assert ["int  a", "int  └─ b"] == lines

    def test_very_deep_trace(self) -> None:
        """A trace deeper than the recursion limit renders all its levels."""
        depth = 3_000
        spans = [
            span(f"level {n}", format(n + 1, "x"), format(n, "x") if n else None, n, 2 * depth - n)
            for n in range(depth)
        ]

        assert depth + 1 == len(render_trace_tree(spans, color=False).splitlines())

    def test_two_traces_two_trees(self) -> None:
        """Spans of two traces give two trees separated by a blank line."""
        spans = [span("first", "1", None, 0, 1), span("second", "2", None, 2, 3, trace_id="f" * 32)]

        blocks = render_trace_tree(spans, color=False).split("\n\n")

        assert [f"trace {TRACE}", f"trace {'f' * 32}"] == [b.split(" · ")[0] for b in blocks]

    def test_only_allow_listed_attributes(self) -> None:
        """Attributes outside the allow-list, or repeated from the name, are not shown."""
        spans = [
            span("chat gpt-4o", "1", None, 0, 1, kind="CLIENT", gen_ai__response__model="gpt-4o",
                 user__id="alice", http__route="/elsewhere"),
        ]  # fmt: skip

        line = render_trace_tree(spans, color=False).splitlines()[1]

        assert line.endswith("chat gpt-4o  route=/elsewhere")

    def test_error_without_message(self) -> None:
        """An error span with no message is marked with its error.type."""
        spans = [span("call", "1", None, 0, 1, status="ERROR", error__type="TimeoutError")]

        assert render_trace_tree(spans, color=False).endswith("call  ✗ TimeoutError")

    def test_error_mark_set_apart_from_attributes(self) -> None:
        """The error mark follows the attributes after a wider gap."""
        spans = [span("GET /", "1", None, 0, 1, status="ERROR", message="boom",
                      http__response__status_code=500)]  # fmt: skip

        assert render_trace_tree(spans, color=False).endswith("GET /  status=500  ✗ boom")

    def test_duck_typed_records(self) -> None:
        """Any record with SpanView's field names renders, as the OTLP receiver's spans do."""

        @dataclass
        class Received:
            name: str
            kind: str
            trace_id: str
            span_id: str
            parent_span_id: str | None
            start_ns: int
            end_ns: int
            attributes: dict[str, object]
            resource: Mapping[str, object]
            status_code: str
            status_message: str
            events: Sequence[object] = field(default_factory=list)

        received = Received("GET /", "SPAN_KIND_SERVER", TRACE, "1" * 16, None, T0, T0 + MS,
                            {}, {"service.name": "edge"}, "OK", "")  # fmt: skip

        assert render_trace_tree([received], color=False).endswith("0 µs  1.00 ms  srv  GET /")

    def test_terminal_escapes_are_neutralised(self) -> None:
        """Control characters in a received span name cannot drive the terminal."""
        spans = [span("GET /\x1b[2J\x1b]0;owned\x07", "1", None, 0, 1)]

        assert "\x1b" not in render_trace_tree(spans, color=False)
        assert render_trace_tree(spans, color=False).endswith("GET /?[2J?]0;owned?")

    def test_multiline_error_message_fits_one_line(self) -> None:
        """A long, multi-line error message is collapsed and cut."""
        message = "Traceback:\n" + "x" * 300
        spans = [span("call", "1", None, 0, 1, status="ERROR", message=message)]

        line = render_trace_tree(spans, color=False).splitlines()[1]
        assert line.endswith("call  ✗ Traceback: " + "x" * 106 + "…")

    def test_empty_input(self) -> None:
        """No spans, no text."""
        assert "" == render_trace_tree([], color=False)


class TestSpanViewFromReadableSpan:
    def test_copies_sdk_span_fields(self) -> None:
        """Ids become hex, enums their names; resource, attributes and events are copied."""
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        with (
            tracer.start_as_current_span("parent") as parent,
            tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child,
        ):
            child.set_attribute("db.system.name", "sqlite")
            child.add_event("slow_operation", {"threshold": 1.0})
            child.set_status(Status(StatusCode.ERROR, "locked"))
        provider.shutdown()

        view = SpanView.from_readable_span(exporter.get_finished_spans()[0])

        context = parent.get_span_context()
        assert ("child", "CLIENT") == (view.name, view.kind)
        assert format(context.trace_id, "032x") == view.trace_id
        assert format(context.span_id, "016x") == view.parent_span_id
        assert 16 == len(view.span_id)
        assert view.end_ns is not None
        assert view.end_ns >= view.start_ns > 0
        assert {"db.system.name": "sqlite"} == view.attributes
        assert "shop" == view.resource["service.name"]
        assert ("ERROR", "locked") == (view.status_code, view.status_message)
        assert ("slow_operation", {"threshold": 1.0}) == (
            view.events[0].name,
            view.events[0].attributes,
        )
        assert isinstance(view.events[0], SpanEventView)


class TestRenderMetricsTable:
    def test_aligned_grouped_and_sorted(self) -> None:
        """Rows sort by metric then attributes; a metric's name heads its group only."""
        rows = [
            MetricRow("requests", "{request}", {"route": "/b"}, value=3),
            MetricRow("latency", "s", {}, count=4, mean=0.02, p50=0.015, p95=0.05, max=0.06),
            MetricRow("requests", "{request}", {"route": "/a"}, value=12),
        ]

        expected = "\n".join(
            [
                "metric              attributes  value  count     mean      p50      p95      max",
                "latency (s)                                4  20.0 ms  15.0 ms  50.0 ms  60.0 ms",
                "requests (request)  route=/a       12",
                "                    route=/b        3",
            ]
        )
        assert expected == render_metrics_table(rows, color=False)

    def test_empty_columns_are_dropped(self) -> None:
        """With only sums and gauges, the histogram columns do not appear."""
        rows = [MetricRow("system.cpu.utilization", "1", {"cpu.mode": "user"}, value=0.274)]

        expected = "metric                  attributes     value\n" + (
            "system.cpu.utilization  cpu.mode=user  27.4%"
        )
        assert expected == render_metrics_table(rows, color=False)

    def test_bytes_in_binary_units(self) -> None:
        """A value in By is shown in KiB/MiB/GiB."""
        rows = [MetricRow("process.memory.usage", "By", value=83_000_000)]

        assert render_metrics_table(rows, color=False).endswith("79.2 MiB")

    def test_no_rows(self) -> None:
        """No rows, no table."""
        assert "" == render_metrics_table([], color=False)

    def test_color_keeps_alignment(self) -> None:
        """Removing the escapes from the colored table gives the plain table."""
        rows = [MetricRow("a", "", {"k": "v"}, value=1), MetricRow("bb", "", {}, value=22)]

        colored = render_metrics_table(rows, color=True)

        assert "\x1b[" in colored
        assert render_metrics_table(rows, color=False) == ANSI.sub("", colored)
