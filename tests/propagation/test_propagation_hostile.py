"""Malformed or hostile traceparent / baggage headers start a new trace, never an error."""

import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import TracerProvider

from autobot_apm.messaging import track_message
from autobot_apm.propagation import attach_context, extract
from autobot_apm.testing import capture_telemetry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"
WELL_FORMED = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
NOT_HEX = st.characters(blacklist_characters="0123456789abcdef-")

# Spans are started on a bare SDK tracer: cheap enough for hundreds of examples.
tracer = TracerProvider().get_tracer("hostile-headers")


def span_under(carrier):
    """A span started in the context extracted from ``carrier``."""
    span = tracer.start_span("request", context=extract(carrier))
    span.end()
    return span


def starts_new_trace(carrier, hostile_trace_id=TRACE_ID):
    span = span_under(carrier)
    return span.parent is None and hostile_trace_id != format(span.context.trace_id, "032x")


def remote_ids(carrier):
    span_context = trace.get_current_span(extract(carrier)).get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


class TestMalformedTraceparent:
    def test_the_valid_header_is_continued(self):
        """The baseline the mutations start from is accepted (else the tests prove nothing)."""
        span = span_under({"traceparent": VALID})
        assert TRACE_ID == format(span.context.trace_id, "032x")
        assert SPAN_ID == format(span.parent.span_id, "016x")

    @given(position=st.integers(0, len(VALID) - 1), replacement=NOT_HEX)
    def test_any_character_replaced_by_a_non_hex_one(self, position, replacement):
        """One character that is not lowercase hex anywhere makes the header unusable."""
        header = VALID[:position] + replacement + VALID[position + 1 :]
        assert starts_new_trace({"traceparent": header})

    @given(cut=st.integers(1, len(VALID) - 1))
    def test_truncated(self, cut):
        """A header cut short (wrong length) starts a new trace."""
        assert starts_new_trace({"traceparent": VALID[:cut]})

    @given(segment=st.integers(0, 3), extra=st.text("0123456789abcdef", min_size=1, max_size=9))
    def test_a_field_too_long(self, segment, extra):
        """A version, id or flags field with extra digits starts a new trace."""
        fields = VALID.split("-")
        fields[segment] += extra
        assert starts_new_trace({"traceparent": "-".join(fields)})

    @pytest.mark.parametrize(
        "header",
        [
            f"00-{'0' * 32}-{SPAN_ID}-01",
            f"00-{TRACE_ID}-{'0' * 16}-01",
            f"ff-{TRACE_ID}-{SPAN_ID}-01",
            f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
            VALID.upper(),
            f"00_{TRACE_ID}_{SPAN_ID}_01",
            "",
            " ",
            "00-" + "f" * 600,
        ],
        ids=["zero-trace-id", "zero-span-id", "version-ff", "v00-with-suffix", "uppercase",
             "wrong-separator", "empty", "blank", "oversized"],
    )  # fmt: skip
    def test_known_bad_forms(self, header):
        """All-zero ids, the forbidden version, uppercase hex and the like are refused."""
        assert starts_new_trace({"traceparent": header})

    @settings(max_examples=300)
    @given(header=st.one_of(st.text(max_size=120), st.binary(max_size=120)))
    def test_arbitrary_values_never_raise_and_never_invent_ids(self, header):
        """Any text or bytes: either no trace, or exactly the well-formed ids it contains."""
        ids = remote_ids({"traceparent": header})
        text = header.decode("latin-1") if isinstance(header, bytes) else header
        if ids is None:
            return
        assert WELL_FORMED.search(text)
        assert f"-{ids[0]}-{ids[1]}-" in text
        assert "0" * 32 != ids[0]
        assert "0" * 16 != ids[1]

    @given(tracestate=st.text(max_size=600))
    def test_a_hostile_tracestate_does_not_break_the_trace(self, tracestate):
        """Garbage tracestate next to a valid traceparent: the trace continues, no error."""
        assert (TRACE_ID, SPAN_ID) == remote_ids({"traceparent": VALID, "tracestate": tracestate})


class TestHostileBaggage:
    def test_oversized_baggage_is_ignored_without_logging_it(self, caplog):
        """A baggage header beyond the W3C 8192-byte limit is dropped, and not echoed to logs."""
        header = "k=" + "v" * 9000
        with caplog.at_level(logging.DEBUG):
            ctx = extract({"traceparent": VALID, "baggage": header})
        assert {} == dict(baggage.get_all(ctx))
        assert not any("v" * 100 in record.getMessage() for record in caplog.records)
        assert (TRACE_ID, SPAN_ID) == remote_ids({"traceparent": VALID, "baggage": header})

    def test_too_many_entries_are_capped(self):
        """At most 180 entries are kept (the W3C limit), however many are sent."""
        header = ",".join(f"k{i}=v" for i in range(400))
        assert 180 >= len(baggage.get_all(extract({"baggage": header})))

    @given(header=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
    def test_arbitrary_baggage_never_raises(self, header):
        """Any baggage value: entries are strings, and the traceparent beside it still works."""
        ctx = extract({"traceparent": VALID, "baggage": header})
        assert all(isinstance(value, str) for value in baggage.get_all(ctx).values())
        assert (TRACE_ID, SPAN_ID) == remote_ids({"traceparent": VALID, "baggage": header})


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


class TestHostileCarriers:
    @given(carrier=JUNK)
    def test_any_structure_reads_as_no_trace(self, carrier):
        """Whatever a message deserializes to, extract() returns and invents nothing."""
        assert remote_ids(carrier) is None or WELL_FORMED.search(repr(carrier))

    @given(carrier=st.dictionaries(st.sampled_from(["traceparent", "baggage"]), JUNK))
    def test_junk_under_the_right_names(self, carrier):
        """Non-string values under traceparent / baggage are ignored, not trusted."""
        assert remote_ids(carrier) is None or WELL_FORMED.search(repr(carrier))

    @settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
    @given(header=st.text(max_size=80).filter(lambda text: not WELL_FORMED.search(text)))
    def test_attach_context_starts_a_new_trace(self, header):
        """Tracked work under attach_context() of a hostile header is a root span."""
        with capture_telemetry() as capture:
            with attach_context({"traceparent": header}), track_message("q", system="x"):
                pass
            (span,) = capture.spans
        assert span.parent is None

    @settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
    @given(header=st.text(max_size=80).filter(lambda text: not WELL_FORMED.search(text)))
    def test_a_process_span_gets_no_link_from_a_hostile_message(self, header):
        """A consumer span reading a hostile message is a root with no link."""
        with capture_telemetry() as capture:
            with track_message("q", system="x", carrier={"traceparent": header}):
                pass
            (span,) = capture.spans
        assert (None, ()) == (span.parent, tuple(span.links))
