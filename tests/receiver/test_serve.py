"""The parts of ``autobot-apm serve``: trace assembly, the per-service table, the screen.

Time is a hand-moved clock: nothing here sleeps. The command itself, with real
processes and signals, runs in tests/test_cli_serve.py.
"""

from __future__ import annotations

import argparse
import io
from typing import Any

import pytest

from autobot_apm._serve import add_serve_arguments, banner
from autobot_apm._serve.assembly import TraceAssembler
from autobot_apm._serve.loop import ServeLoop, render_trace
from autobot_apm._serve.screen import Screen
from autobot_apm._serve.stats import ServiceStats, percentile
from autobot_apm.receiver import OTLPReceiver, ReceivedSpan
from support import pending_traces

MS = 1_000_000  # nanoseconds


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def span(
    name: str,
    *,
    trace: str = "t1",
    span_id: str = "s1",
    parent: str | None = None,
    service: str = "shop",
    kind: str = "INTERNAL",
    duration_ms: float = 1.0,
    status: str = "UNSET",
    start_ms: float = 0.0,
    **attributes: Any,
) -> ReceivedSpan:
    start = int(start_ms * MS)
    return ReceivedSpan(
        name=name, kind=kind, trace_id=trace, span_id=span_id, parent_span_id=parent,
        start_ns=start, end_ns=start + int(duration_ms * MS), attributes=attributes,
        resource={"service.name": service}, scope="test", status_code=status,
        status_message="", events=(), links=(), protocol="http",
    )  # fmt: skip


# --- trace assembly --------------------------------------------------------------------


def test_a_trace_is_complete_once_its_root_came_and_a_quiet_period_passed() -> None:
    clock = Clock()
    assembler = TraceAssembler(clock, quiet_s=2.0)
    assembler.add([span("child", span_id="c", parent="r")])
    clock.advance(1.0)
    assembler.add([span("root", span_id="r")])
    clock.advance(1.9)
    assert assembler.completed() == []
    clock.advance(0.1)
    (trace,) = assembler.completed()
    assert trace.complete
    assert [s.name for s in trace.spans] == ["child", "root"]
    assert assembler.completed() == []
    assert pending_traces(assembler) == 0


def test_a_late_span_restarts_the_quiet_period() -> None:
    clock = Clock()
    assembler = TraceAssembler(clock, quiet_s=2.0)
    assembler.add([span("root", span_id="r")])
    clock.advance(1.5)
    assembler.add([span("late child", span_id="c", parent="r", service="billing")])
    clock.advance(1.5)
    assert assembler.completed() == []
    clock.advance(0.5)
    (trace,) = assembler.completed()
    assert trace.services == {"shop", "billing"}


def test_without_its_root_a_trace_is_given_up_on_later_and_marked_incomplete() -> None:
    clock = Clock()
    assembler = TraceAssembler(clock, quiet_s=2.0, give_up_s=30.0)
    assembler.add([span("orphan", span_id="c", parent="elsewhere")])
    clock.advance(29.0)
    assert assembler.completed() == []
    clock.advance(1.0)
    (trace,) = assembler.completed()
    assert not trace.complete


def test_traces_are_kept_apart_and_released_each_on_its_own_time() -> None:
    clock = Clock()
    assembler = TraceAssembler(clock, quiet_s=2.0)
    assembler.add([span("first", trace="a", span_id="1")])
    clock.advance(1.0)
    assembler.add([span("second", trace="b", span_id="2")])
    clock.advance(1.0)
    assert [t.trace_id for t in assembler.completed()] == ["a"]
    clock.advance(1.0)
    assert [t.trace_id for t in assembler.completed()] == ["b"]


def test_too_many_waiting_spans_push_out_the_oldest_trace() -> None:
    assembler = TraceAssembler(Clock(), max_pending_spans=2)
    assert assembler.add([span("a1", trace="a", span_id="1", parent="x")]) == []
    assert assembler.add([span("a2", trace="a", span_id="2", parent="x")]) == []
    (evicted,) = assembler.add([span("b1", trace="b", span_id="3", parent="x")])
    assert (evicted.trace_id, len(evicted.spans)) == ("a", 2)
    assert pending_traces(assembler) == 1


def test_drain_hands_out_every_waiting_trace() -> None:
    assembler = TraceAssembler(Clock())
    assembler.add([span("a", trace="a"), span("b", trace="b", parent="x")])
    assert [(t.trace_id, t.complete) for t in assembler.drain()] == [("a", True), ("b", False)]
    assert pending_traces(assembler) == 0


# --- the per-service table -------------------------------------------------------------


def test_requests_are_entry_spans_with_their_errors_latency_and_the_tokens_of_all() -> None:
    clock = Clock()
    stats = ServiceStats(clock, window_s=60.0)
    requests = [
        span(f"GET /{n}", span_id=str(n), parent="caller", kind="SERVER", duration_ms=n)
        for n in range(1, 101)
    ]
    failed = span("job", span_id="f", kind="CONSUMER", parent="p", status="ERROR", duration_ms=1)
    llm = span("chat m", span_id="l", parent="1", kind="CLIENT",
               **{"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 30})  # fmt: skip
    internal = span("helper", span_id="h", parent="1")  # neither an entry nor tokens
    stats.add([*requests, failed, llm, internal, span("run", service="batch", span_id="b")])
    clock.advance(10.0)
    batch, shop = stats.rows()
    assert (batch.service, batch.requests) == ("batch", 1)  # a root is a request too
    assert (shop.service, shop.requests, shop.errors, shop.tokens) == ("shop", 101, 1, 42)
    assert shop.p50 == pytest.approx(0.050)
    assert shop.p95 == pytest.approx(0.095)
    assert shop.rate == pytest.approx(101 / 10.0)  # over the 10 s there were, not 60
    assert stats.totals() == (102, 1, 42)


def test_rate_and_percentiles_cover_the_window_while_counts_are_totals() -> None:
    clock = Clock()
    stats = ServiceStats(clock, window_s=60.0)
    stats.add([span("slow", span_id="1", duration_ms=500)])
    clock.advance(61.0)
    stats.add([span("fast", span_id="2", duration_ms=2)])
    (row,) = stats.rows()
    assert row.requests == 2
    assert row.p50 == row.p95 == pytest.approx(0.002)
    assert row.rate == pytest.approx(1 / 60.0)
    clock.advance(61.0)
    (row,) = stats.rows()
    assert (row.rate, row.p50, row.requests) == (0.0, None, 2)


def test_the_table_shows_one_line_per_service() -> None:
    stats = ServiceStats(Clock())
    assert stats.render(color=False) == ""
    stats.add([span("GET /", kind="SERVER", parent="p", **{"gen_ai.usage.input_tokens": 7})])
    header, line = stats.render(color=False).splitlines()
    columns = ["service", "req/s", "requests", "errors", "p50", "p95", "llm", "tokens"]
    assert header.split() == columns
    assert line.split() == ["shop", "1.00", "1", "0", "1.00", "ms", "1.00", "ms", "7"]


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0], 0.95) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0


# --- the loop and the screen -----------------------------------------------------------


def test_the_loop_prints_a_trace_once_complete_and_a_plain_table_each_interval() -> None:
    clock, out = Clock(), io.StringIO()
    loop = ServeLoop(Screen(out, live=False), clock, quiet_s=2.0, interval_s=10.0)
    loop.receive([span("GET /cart", span_id="r", kind="SERVER", **{"http.route": "/cart",
                  "http.response.status_code": 200})])  # fmt: skip
    loop.receive([span("charge", span_id="c", parent="r", service="billing", start_ms=0.5)])
    loop.step()
    assert out.getvalue() == ""
    clock.advance(2.0)
    loop.step()
    printed = out.getvalue()
    assert printed.startswith("shop -> billing\ntrace t1 · 2 spans")
    assert "status=200" in printed
    assert "billing" in printed.splitlines()[3]
    assert "Per service" not in printed
    clock.advance(8.0)
    loop.step()
    table = out.getvalue()[len(printed) :]
    assert table.startswith("Per service")
    assert [line.split()[0] for line in table.splitlines()[2:]] == ["billing", "shop"]
    clock.advance(10.0)
    loop.step()
    assert out.getvalue().endswith(table)  # nothing new: no second copy
    assert loop.traces_shown == 1


def test_finish_prints_what_is_waiting_and_a_closing_line() -> None:
    clock, out = Clock(), io.StringIO()
    loop = ServeLoop(Screen(out, live=False), clock)
    loop.receive([span("orphan", parent="gone", **{"gen_ai.usage.output_tokens": 5})])
    summary = loop.finish()
    assert "(root span not received" in out.getvalue()
    assert "Per service" in out.getvalue()
    assert summary == (
        "autobot-apm serve stopped: 1 span, 1 trace, 0 requests (0 errors), "
        "5 LLM tokens from 1 service."
    )


def test_a_live_screen_redraws_its_table_in_place_below_new_text() -> None:
    out = io.StringIO()
    screen = Screen(out, live=True)
    screen.show_table("head\nrow 1\n")
    screen.say("a trace")
    screen.show_table("head\nrow 2\n")
    assert out.getvalue() == (
        "head\nrow 1\n"
        "\x1b[2F\x1b[Ja trace\nhead\nrow 1\n"  # up over the table, clear, text, table again
        "\x1b[2F\x1b[Jhead\nrow 2\n"
    )


def test_an_incomplete_trace_says_why() -> None:
    assembler = TraceAssembler(Clock())
    assembler.add([span("orphan", parent="gone")])
    (trace,) = assembler.drain()
    assert "root span not received" in render_trace(trace, color=False).splitlines()[0]


# --- options, banner and the receiver's hooks ------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_are_the_standard_otlp_ports_on_loopback() -> None:
    args = parse()
    assert (args.host, args.grpc_port, args.http_port) == ("127.0.0.1", 4317, 4318)


BAD_OPTIONS = [["--grpc-port", "70000"], ["--http-port", "x"], ["--quiet-period", "0"]]


@pytest.mark.parametrize("argv", BAD_OPTIONS)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_the_banner_warns_only_off_loopback() -> None:
    receiver = OTLPReceiver(host="0.0.0.0", grpc_port=4317, http_port=4318, allow_remote=True)
    receiver._ports = {"grpc": 4317, "http": 4318}  # as if started: nothing is bound here
    remote = banner(receiver, "0.0.0.0", 2.0)
    assert remote.startswith("WARNING: listening on 0.0.0.0, not loopback")
    local = banner(receiver, "127.0.0.1", 2.0)
    assert "WARNING" not in local
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://0.0.0.0:4318" in local


def test_the_receiver_refuses_other_hosts_unless_allowed() -> None:
    with pytest.raises(ValueError, match="loopback"):
        OTLPReceiver(host="0.0.0.0")
    OTLPReceiver(host="0.0.0.0", allow_remote=True)  # binds only on start()


def test_the_receiver_hands_spans_over_and_keeps_nothing_when_told() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    handed: list[ReceivedSpan] = []
    with OTLPReceiver(grpc=False, on_spans=handed.extend, keep=False) as rx:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"{rx.http_endpoint}/v1/traces", timeout=5)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("handed over"):
            pass
        provider.shutdown()
        assert [s.name for s in handed] == ["handed over"]
        assert rx.spans == []
        assert rx.requests == []
