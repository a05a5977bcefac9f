"""track_message: producer and consumer spans, the trace inside the message, metrics."""

import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import autobot_apm as apm
from autobot_apm.messaging import MessageOperation, track_message
from autobot_apm.propagation import inject

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"


def hex_ids(span_context):
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def send_then_process(capture):
    """A job sent inside a request, serialized, then processed with no context around."""
    with apm.track_api(route="/jobs", method="POST"):
        job = {"task": "resize"}
        with track_message("jobs", system="redis", operation="send", carrier=job):
            wire = json.dumps(job)
    with track_message("jobs", system="redis", operation="process", carrier=json.loads(wire)):
        pass
    return capture.span("send jobs"), capture.span("process jobs")


class TestProducer:
    def test_span_name_kind_and_attributes(self, apm_capture):
        """send: a PRODUCER span '{operation} {destination}' with the messaging attributes."""
        with track_message("jobs", system="redis", operation="send", message_id="m-1",
                           server_address="127.0.0.1", server_port=6379):  # fmt: skip
            pass
        span = apm_capture.span("send jobs")
        assert SpanKind.PRODUCER == span.kind
        assert {
            "messaging.system": "redis",
            "messaging.destination.name": "jobs",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.message.id": "m-1",
            "server.address": "127.0.0.1",
            "server.port": 6379,
        } == dict(span.attributes)

    def test_the_carrier_receives_the_producer_span(self, apm_capture):
        """carrier= on send writes the producer span's traceparent into the message."""
        job = {"task": "resize"}
        with track_message("jobs", system="redis", operation="send", carrier=job) as op:
            pass
        assert f"00-{op.trace_id}-{op.span_id}" == job["traceparent"][:52]
        assert "resize" == job["task"]

    def test_op_inject_and_apm_inject_write_the_same_span(self, apm_capture):
        """Inside the block, op.inject(m) and inject(m) both carry the producer span."""
        first, second = {}, []
        with track_message("jobs", system="kafka", operation="send") as op:
            op.inject(first)
            inject(second)
        assert first["traceparent"] == dict(second)["traceparent"]
        assert op.span_id == first["traceparent"][36:52]

    def test_operation_name_differs_from_its_type(self, apm_capture):
        """operation_name is the system's own word; the type stays the convention's."""
        with track_message("orders", system="rabbitmq", operation="send",
                           operation_name="publish"):  # fmt: skip
            pass
        span = apm_capture.span("publish orders")
        assert ("publish", "send") == (span.attributes["messaging.operation.name"],
                                       span.attributes["messaging.operation.type"])  # fmt: skip

    @pytest.mark.parametrize(
        ("operation", "kind"),
        [("create", SpanKind.PRODUCER), ("send", SpanKind.PRODUCER),
         ("receive", SpanKind.CLIENT), ("process", SpanKind.CONSUMER),
         ("settle", SpanKind.CLIENT), ("purge", SpanKind.CLIENT)],
    )  # fmt: skip
    def test_span_kind_follows_the_operation_type(self, apm_capture, operation, kind):
        """Each operation type has the kind the conventions give it; unknown ones are CLIENT."""
        with track_message("q", system="x", operation=operation):
            pass
        span = apm_capture.span(f"{operation} q")
        assert kind == span.kind
        expected_type = None if operation == "purge" else operation
        assert expected_type == span.attributes.get("messaging.operation.type")


class TestConsumer:
    def test_process_continues_the_senders_trace(self, apm_capture):
        """process: a CONSUMER span, child of the producer span, in the same trace."""
        send, process = send_then_process(apm_capture)
        assert SpanKind.CONSUMER == process.kind
        assert send.context.trace_id == process.context.trace_id
        assert send.context.span_id == process.parent.span_id

    def test_process_links_to_the_sending_span(self, apm_capture):
        """The conventions ask consumer spans to link to the message's creation context."""
        send, process = send_then_process(apm_capture)
        (link,) = process.links
        assert hex_ids(send.context) == hex_ids(link.context)

    def test_the_request_producer_and_consumer_form_one_trace(self, apm_capture):
        """request -> send -> process: one trace id, each the parent of the next."""
        send, process = send_then_process(apm_capture)
        request = apm_capture.span("POST /jobs")
        assert request.context.span_id == send.parent.span_id
        assert {request.context.trace_id} == {send.context.trace_id, process.context.trace_id}

    def test_receive_links_without_joining_the_trace(self, apm_capture):
        """receive: a CLIENT span linked to the message, in the receiver's own trace."""
        carrier = {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"}
        receive = track_message("jobs", system="aws_sqs", operation="receive", carrier=carrier)
        with apm.track_api(route="/poll", method="GET") as poll, receive:
            pass
        span = apm_capture.span("receive jobs")
        assert (poll.trace_id, poll.span_id) == hex_ids(span.parent)
        assert (TRACE_ID, SPAN_ID) == hex_ids(span.links[0].context)

    def test_a_message_without_trace_is_processed_in_the_current_trace(self, apm_capture):
        """No traceparent in the message: the span joins whatever is current, no link."""
        process = track_message("jobs", system="redis", carrier={"task": "x"})
        with apm.track_api(route="/loop", method="GET") as loop, process:
            pass
        span = apm_capture.span("process jobs")
        assert (loop.trace_id, loop.span_id) == hex_ids(span.parent)
        assert () == tuple(span.links)

    def test_a_header_list_carrier_works(self, apm_capture):
        """Kafka-style [(name, bytes)] headers carry the trace both ways."""
        headers = [("key", b"k1")]
        with track_message("t", system="kafka", operation="send", carrier=headers) as sent:
            pass
        with track_message("t", system="kafka", carrier=headers):
            pass
        assert sent.span_id == format(apm_capture.span("process t").parent.span_id, "016x")


class TestMetrics:
    def test_send_records_the_client_operation_duration(self, apm_capture):
        """Non-process operations record messaging.client.operation.duration, by destination."""
        send_then_process(apm_capture)
        expected = {
            "messaging.system": "redis",
            "messaging.destination.name": "jobs",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
        }
        (point,) = apm_capture.metric_points("messaging.client.operation.duration")
        assert expected == dict(point.attributes)
        assert 1 == point.count

    def test_process_records_the_process_duration(self, apm_capture):
        """process records messaging.process.duration, and no client metric."""
        with track_message("jobs", system="redis"):
            pass
        process = {"messaging.operation.type": "process"}
        assert 1 == apm_capture.histogram_count("messaging.process.duration", process)
        assert 0 == apm_capture.histogram_count("messaging.client.operation.duration")

    def test_metric_units_and_buckets(self, apm_capture):
        """Both histograms are in seconds, with the conventions' boundaries."""
        send_then_process(apm_capture)
        for name in ("messaging.client.operation.duration", "messaging.process.duration"):
            metric = apm_capture.metrics()[name]
            assert ("s", 0.005) == (metric.unit, metric.data.data_points[0].explicit_bounds[0])

    def test_message_id_stays_off_the_metric(self, apm_capture):
        """Message ids are unique: on the span only, never a metric attribute."""
        with track_message("q", system="x", operation="send", message_id="unique-42"):
            pass
        (point,) = apm_capture.metric_points("messaging.client.operation.duration")
        assert "messaging.message.id" not in point.attributes


class TestFailures:
    def test_a_failing_handler_marks_the_span_and_passes_through(self, apm_capture):
        """The handler's exception is recorded as error.type and re-raised unchanged."""
        error = ValueError("bad job")
        with (
            pytest.raises(ValueError, match="bad job") as raised,
            track_message("jobs", system="redis"),
        ):
            raise error
        assert error is raised.value
        span = apm_capture.span("process jobs")
        assert (StatusCode.ERROR, "ValueError") == (span.status.status_code,
                                                     span.attributes["error.type"])  # fmt: skip
        (point,) = apm_capture.metric_points("messaging.process.duration")
        assert "ValueError" == point.attributes["error.type"]

    def test_bare_decorator_processes_a_message_named_after_the_function(self, apm_capture):
        """@track_message alone tracks each call as processing a message of that name."""

        @track_message
        def jobs(job):
            return job

        assert {"n": 1} == jobs({"n": 1})
        (span,) = apm_capture.spans
        assert "process jobs" == span.name

    def test_decorated_handlers_are_tracked(self, apm_capture):
        """As a decorator, every call of the handler is one process span."""

        @track_message("jobs", system="redis")
        def handle(job):
            apm.current_operation(MessageOperation).set_attribute("job.kind", job["kind"])

        handle({"kind": "a"})
        handle({"kind": "b"})
        assert 2 == len(apm_capture.spans_named("process jobs"))

    def test_untracked_when_telemetry_is_off(self):
        """Unconfigured, a send block neither fails nor writes into the message."""
        job = {}
        with track_message("jobs", system="redis", operation="send", carrier=job) as op:
            op.inject(job)
        assert {} == job
