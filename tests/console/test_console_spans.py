"""The console span exporter, driven by a real TracerProvider."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    set_span_in_context,
)

from autobot_apm._sdk.console import ConsoleSpanExporter

TIMING = re.compile(r"^ *[\d.]+ [µm]?s +[\d.]+ [µm]?s  ")


def without_timing(text: str) -> list[str]:
    """The span lines of one printed trace, without the offset and duration columns."""
    return [TIMING.sub("", line) for line in text.strip("\n").splitlines()[1:]]


@dataclass
class Console:
    provider: TracerProvider
    tracer: Tracer
    exporter: ConsoleSpanExporter
    stream: io.StringIO


def make_console(**options: int) -> Console:
    stream = io.StringIO()
    exporter = ConsoleSpanExporter(stream=stream, color=False, **options)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Console(provider, provider.get_tracer("test"), exporter, stream)


@pytest.fixture
def console() -> Iterator[Console]:
    made = make_console()
    yield made
    made.provider.shutdown()


def serve_order(tracer: Tracer) -> None:
    """A server span with a query (holding an internal step) and a failing validation."""
    with tracer.start_as_current_span(
        "GET /orders",
        kind=SpanKind.SERVER,
        attributes={"http.route": "/orders", "http.response.status_code": 200},
    ):
        query = {"db.system.name": "postgresql"}
        with (
            tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, attributes=query),
            tracer.start_as_current_span("decode rows"),
        ):
            pass
        try:
            with tracer.start_as_current_span("validate"):
                raise ValueError("bad order")
        except ValueError:
            pass


class TestTraceTree:
    def test_nested_spans_print_as_tree(self, console: Console) -> None:
        """When the root ends, the whole trace prints as one tree in call order."""
        serve_order(console.tracer)

        expected = [
            "srv  GET /orders        status=200",
            "cli  ├─ SELECT orders   db=postgresql",
            "int  │  └─ decode rows",
            "int  └─ validate        ✗ ValueError: bad order",
        ]
        assert expected == without_timing(console.stream.getvalue())

    def test_header_names_trace_and_counts(self, console: Console) -> None:
        """The first line names the trace id, the span count, the duration and errors."""
        serve_order(console.tracer)

        header = console.stream.getvalue().splitlines()[0]
        assert re.fullmatch(r"trace [0-9a-f]{32} · 4 spans · [\d.]+ [µm]?s · 1 error", header)

    def test_nothing_printed_before_root_ends(self, console: Console) -> None:
        """Children wait in the buffer until their local root ends."""
        with console.tracer.start_as_current_span("root"):
            with console.tracer.start_as_current_span("child"):
                pass
            assert "" == console.stream.getvalue()
        assert ["int  root", "int  └─ child"] == without_timing(console.stream.getvalue())

    def test_remote_parent_makes_a_local_root(self, console: Console) -> None:
        """A span continuing a trace from another process prints when it ends."""
        remote = SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        context = set_span_in_context(NonRecordingSpan(remote))
        with (
            console.tracer.start_as_current_span("GET /items", context, kind=SpanKind.SERVER),
            console.tracer.start_as_current_span("load"),
        ):
            pass

        output = console.stream.getvalue()
        assert output.startswith("trace 0af7651916cd43dd8448eb211c80319c · 2 spans")
        assert ["srv  GET /items", "int  └─ load"] == without_timing(output)

    def test_traces_separated_by_blank_line(self, console: Console) -> None:
        """Consecutive traces are printed whole, with a blank line after each."""
        for name in ("first", "second"):
            with console.tracer.start_as_current_span(name):
                pass

        blocks = console.stream.getvalue().split("\n\n")
        assert [["int  first"], ["int  second"], []] == [without_timing(b) for b in blocks]


class TestBuffer:
    def test_oldest_trace_printed_when_bound_exceeded(self) -> None:
        """Beyond max_buffered_spans, the least recently active trace prints as it is."""
        console = make_console(max_buffered_spans=3)
        stuck = console.tracer.start_span("stuck root")
        busy = console.tracer.start_span("busy root")
        for root in (stuck, busy, busy):
            with console.tracer.start_as_current_span("step", set_span_in_context(root)):
                pass
        stuck_trace = format(stuck.get_span_context().trace_id, "032x")
        assert "" == console.stream.getvalue()

        with console.tracer.start_as_current_span("step", set_span_in_context(busy)):
            pass

        assert console.stream.getvalue().startswith(f"trace {stuck_trace} · 1 span ·")
        assert ["int  step"] == without_timing(console.stream.getvalue())
        console.provider.shutdown()

    def test_force_flush_prints_leftovers(self, console: Console) -> None:
        """Spans of a trace whose root has not ended print on force_flush, then not again."""
        root = console.tracer.start_span("request")
        with console.tracer.start_as_current_span("query", set_span_in_context(root)):
            pass

        assert console.exporter.force_flush()
        assert ["int  query"] == without_timing(console.stream.getvalue())
        assert console.exporter.force_flush()
        assert 1 == console.stream.getvalue().count("trace ")

    def test_shutdown_prints_leftovers_then_refuses(self) -> None:
        """Shutdown prints waiting spans; an export after shutdown is refused."""
        console = make_console()
        root = console.tracer.start_span("request")
        with console.tracer.start_as_current_span("query", set_span_in_context(root)):
            pass

        console.provider.shutdown()

        assert ["int  query"] == without_timing(console.stream.getvalue())
        assert SpanExportResult.FAILURE == console.exporter.export([])


class TestColor:
    def test_color_off_emits_no_escape_codes(self, console: Console) -> None:
        """color=False prints plain text."""
        serve_order(console.tracer)
        assert "\x1b" not in console.stream.getvalue()

    def test_default_is_plain_for_a_non_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without an explicit color, a stream that is not a terminal gets no colour."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        stream = io.StringIO()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(stream=stream)))
        serve_order(provider.get_tracer("test"))
        provider.shutdown()

        assert "├─" in stream.getvalue()
        assert "\x1b" not in stream.getvalue()

    def test_color_on_emits_escape_codes(self) -> None:
        """color=True paints the tree with ANSI sequences."""
        stream = io.StringIO()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(stream, color=True)))
        serve_order(provider.get_tracer("test"))
        provider.shutdown()

        assert "\x1b[1;31m" in stream.getvalue()


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("console went away")


class TestNeverRaises:
    def test_write_failure_is_contained(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A stream that fails makes export report FAILURE instead of raising."""
        monkeypatch.delenv("AUTOBOT_APM_STRICT", raising=False)
        finished = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(finished))
        with provider.get_tracer("test").start_as_current_span("root"):
            pass
        provider.shutdown()
        exporter = ConsoleSpanExporter(stream=BrokenStream(), color=False)

        assert SpanExportResult.FAILURE == exporter.export(finished.get_finished_spans())


class TestThreads:
    def test_concurrent_traces_print_whole(self) -> None:
        """Traces ended from many threads print once each, never interleaved."""
        console = make_console()

        def work() -> None:
            for _ in range(25):
                with console.tracer.start_as_current_span("root"):
                    for _ in range(2):
                        with console.tracer.start_as_current_span("child"):
                            pass

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        console.provider.shutdown()

        blocks = console.stream.getvalue().strip("\n").split("\n\n")
        assert 150 == len({block.split(" · ")[0] for block in blocks})
        assert [["int  root", "int  ├─ child", "int  └─ child"]] * 150 == [
            without_timing(block) for block in blocks
        ]
