"""inject / extract / attach_context on the carriers transports use."""

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

import autobot_apm as apm
from autobot_apm.propagation import attach_context, extract, inject

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


def remote_span_context(ctx):
    return trace.get_current_span(ctx).get_span_context()


def hex_ids(span_context):
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


class TestInject:
    def test_writes_the_current_span_into_a_dict(self, apm_capture):
        """Inside a span, inject() writes that span's traceparent and returns the carrier."""
        carrier = {"job": 7}
        with apm.track_cache("c") as op:
            returned = inject(carrier)
        assert carrier is returned
        assert f"00-{op.trace_id}-{op.span_id}-" == carrier["traceparent"][:-2]
        assert 7 == carrier["job"]

    def test_outside_a_span_leaves_the_carrier_unchanged(self):
        """With no current span there is no trace to write."""
        assert {} == inject({})

    def test_writes_into_a_list_of_pairs_replacing_an_old_value(self, apm_capture):
        """Kafka-style header lists get one traceparent pair, bytes when the list holds bytes."""
        headers = [("content-type", b"json"), ("Traceparent", b"stale")]
        with apm.track_cache("c") as op:
            inject(headers)
        assert ["content-type", "traceparent"] == [name for name, _ in headers]
        assert headers[1][1].decode().startswith(f"00-{op.trace_id}-{op.span_id}")

    def test_writes_an_explicit_context(self):
        """inject(carrier, ctx) writes ctx's span, not the current one."""
        carrier = inject({}, extract({"traceparent": TRACEPARENT}))
        assert TRACEPARENT == carrier["traceparent"]

    def test_writes_baggage(self):
        """Baggage in the context travels in the baggage header."""
        ctx = baggage.set_baggage("tenant", "blue")
        assert "tenant=blue" == inject({}, ctx)["baggage"]

    @pytest.mark.parametrize("carrier", [None, "text", 42, (("a", "b"),), frozenset()])
    def test_unwritable_carriers_are_returned_untouched(self, apm_capture, carrier):
        """A carrier that cannot be written to is left alone, without an error."""
        with apm.track_cache("c"):
            assert carrier is inject(carrier)


class TestExtract:
    def test_reads_a_dict(self):
        """A valid traceparent gives a remote span context with its ids."""
        span_context = remote_span_context(extract({"traceparent": TRACEPARENT}))
        assert (TRACE_ID, SPAN_ID) == hex_ids(span_context)
        assert span_context.is_remote

    @pytest.mark.parametrize(
        "carrier",
        [
            {"Traceparent": TRACEPARENT},
            {"TRACEPARENT": TRACEPARENT.encode()},
            [(b"traceparent", TRACEPARENT.encode())],
            [("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)],
            {"traceparent": [TRACEPARENT]},
        ],
        ids=["capitalized", "bytes", "asgi-scope-headers", "repeated", "list-value"],
    )
    def test_reads_the_shapes_transports_use(self, carrier):
        """Names match case-insensitively; str, bytes, lists and pairs all work."""
        assert (TRACE_ID, SPAN_ID) == hex_ids(remote_span_context(extract(carrier)))

    def test_reads_baggage(self):
        """Baggage entries arrive in the extracted context."""
        ctx = extract({"traceparent": TRACEPARENT, "baggage": "tenant=blue,tier=gold"})
        assert {"tenant": "blue", "tier": "gold"} == dict(baggage.get_all(ctx))

    def test_round_trip(self, apm_capture):
        """What inject() writes, extract() reads back as the same span."""
        with apm.track_cache("c") as op:
            carrier = inject({})
        assert (op.trace_id, op.span_id) == hex_ids(remote_span_context(extract(carrier)))

    def test_does_not_inherit_the_current_context(self, apm_capture):
        """Without a traceparent the result has no span, even inside one: a new trace."""
        with apm.track_cache("c"):
            assert not remote_span_context(extract({})).is_valid

    def test_builds_on_an_explicit_context(self):
        """extract(carrier, ctx) keeps ctx's values and adds the carrier's."""
        base = baggage.set_baggage("region", "eu")
        ctx = extract({"traceparent": TRACEPARENT}, base)
        assert "eu" == baggage.get_baggage("region", ctx)
        assert TRACE_ID == hex_ids(remote_span_context(ctx))[0]

    @pytest.mark.parametrize("carrier", [None, "traceparent", 3.5, object(), [1, 2, (3,)]])
    def test_unreadable_carriers_give_an_empty_context(self, carrier):
        """Anything that is not a mapping or a list of pairs reads as no trace."""
        assert not remote_span_context(extract(carrier)).is_valid


class TestAttachContext:
    def test_spans_in_the_block_continue_the_remote_trace(self, apm_capture):
        """A span started in the block is a child of the remote span."""
        with attach_context({"traceparent": TRACEPARENT}), apm.track_cache("c"):
            pass
        span = apm_capture.span("get c")
        assert TRACE_ID == format(span.context.trace_id, "032x")
        assert SPAN_ID == format(span.parent.span_id, "016x")
        assert span.parent.is_remote

    def test_yields_the_extracted_context(self):
        """The block receives the context it runs in."""
        with attach_context({"traceparent": TRACEPARENT}) as ctx:
            assert ctx == otel_context.get_current()

    def test_restores_the_previous_context(self, apm_capture):
        """After the block, the span that was current before is current again."""
        with apm.track_cache("outer") as outer:
            with attach_context({"traceparent": TRACEPARENT}):
                pass
            assert outer.span_id == format(trace.get_current_span().get_span_context().span_id,
                                           "016x")  # fmt: skip

    def test_restores_the_context_when_the_block_raises(self):
        """An exception in the block leaves no remote context behind, and passes through."""
        before = otel_context.get_current()
        error = KeyError("boom")
        with pytest.raises(KeyError) as raised, attach_context({"traceparent": TRACEPARENT}):
            raise error
        assert error is raised.value
        assert before == otel_context.get_current()

    async def test_works_in_coroutines(self, apm_capture):
        """The block may await; spans after the await still join the remote trace."""
        import asyncio

        with attach_context({"traceparent": TRACEPARENT}):
            await asyncio.sleep(0)
            async with apm.track_cache("c"):
                pass
        assert TRACE_ID == format(apm_capture.span("get c").context.trace_id, "032x")
