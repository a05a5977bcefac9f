"""track_operation in all four forms and on every kind of callable."""

import asyncio
import logging

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import autobot_apm as apm
from autobot_apm._tracking import runtime as _runtime
from autobot_apm.operation import TrackedOperation, track_operation
from autobot_apm.testing import Capture

DURATION = "autobot_apm.operation.duration"


class TestForms:
    def test_bare_decorator(self, apm_capture: Capture):
        """@track_operation without arguments names the operation after the function."""

        @track_operation
        def resize(image):
            return image

        assert "img" == resize("img")
        span = apm_capture.span("resize")
        assert SpanKind.INTERNAL == span.kind
        assert "resize" == span.attributes["autobot_apm.operation.name"]

    def test_called_decorator(self, apm_capture: Capture):
        """@track_operation(name) makes one span and one duration record per call."""

        @track_operation("embed")
        def embed(text):
            return len(text)

        embed("a")
        embed("bb")
        assert 2 == len(apm_capture.spans_named("embed"))
        assert 2 == apm_capture.histogram_count(DURATION, {"autobot_apm.operation.name": "embed"})

    def test_with_block_yields_the_handle(self, apm_capture: Capture):
        """`with` yields a TrackedOperation and ends the span with the block."""
        with track_operation("load") as op:
            assert isinstance(op, TrackedOperation)
            op.set_attribute("rows", 3)
        assert 3 == apm_capture.span("load").attributes["rows"]

    async def test_async_with_block(self, apm_capture: Capture):
        """`async with` works like `with`."""
        async with track_operation("fetch", kind="client"):
            await asyncio.sleep(0)
        assert SpanKind.CLIENT == apm_capture.span("fetch").kind

    def test_handle_reachable_inside_a_decorated_function(self, apm_capture: Capture):
        """current_operation(TrackedOperation) is the call's handle inside the function."""

        @track_operation("batch")
        def batch(records):
            apm.current_operation(TrackedOperation).items(len(records))

        batch([1, 2, 3])
        assert 3 == apm_capture.span("batch").attributes["autobot_apm.pipeline.items.processed"]


class TestCallableKinds:
    async def test_coroutine_is_timed_while_awaited(self, apm_capture: Capture, apm_clock):
        """The span of a coroutine covers its awaiting, not the creation of it."""

        @track_operation("infer")
        async def infer():
            await asyncio.sleep(0)
            apm_clock.advance(0.05)
            return "done"

        pending = infer()
        apm_clock.advance(1.0)  # between creating the coroutine and awaiting it
        assert "done" == await pending
        span = apm_capture.span("infer")
        assert apm_clock.start_ns + 1_000_000_000 == span.start_time
        assert 50_000_000 == span.end_time - span.start_time

    def test_generator_span_lasts_until_exhausted(self, apm_capture: Capture):
        """A generator's span is open while it is consumed and ends when it is exhausted."""

        @track_operation("read")
        def read():
            yield from range(3)

        stream = read()
        assert [0] == [next(stream)]
        assert [] == apm_capture.spans
        assert [1, 2] == list(stream)
        assert 1 == len(apm_capture.spans_named("read"))

    def test_generator_closed_early_ends_the_span(self, apm_capture: Capture):
        """Breaking out of a tracked generator ends its span without an error."""

        @track_operation("read")
        def read():
            yield from range(10)

        for value in read():
            if value == 1:
                break
        span = apm_capture.span("read")
        assert StatusCode.UNSET == span.status.status_code

    async def test_async_generator(self, apm_capture: Capture):
        """An async generator is tracked until it is exhausted."""

        @track_operation("chunks")
        async def chunks():
            for value in range(2):
                await asyncio.sleep(0)
                yield value

        assert [0, 1] == [value async for value in chunks()]
        assert 1 == len(apm_capture.spans_named("chunks"))

    def test_methods(self, apm_capture: Capture):
        """Instance, class and static methods are tracked, the decorator above each."""

        class Model:
            @track_operation("predict")
            def predict(self, x):
                return x + 1

            @track_operation("load")
            @classmethod
            def load(cls):
                return cls()

            @track_operation
            @staticmethod
            def version():
                return 2

        assert 2 == Model.load().predict(1)
        assert 2 == Model.version()
        assert {"predict", "load", "version"} == {span.name for span in apm_capture.spans}


class TestErrors:
    def test_exception_passes_through_and_is_recorded(self, apm_capture: Capture):
        """The user's exception is re-raised unchanged and labels the span and metric."""
        error = ValueError("bad frame")

        @track_operation("decode")
        def decode():
            raise error

        with pytest.raises(ValueError, match="bad frame") as raised:
            decode()
        assert error is raised.value
        span = apm_capture.span("decode")
        assert StatusCode.ERROR == span.status.status_code
        assert "ValueError" == span.attributes["error.type"]
        assert 1 == apm_capture.histogram_count(DURATION, {"error.type": "ValueError"})

    def test_unknown_kind_is_tracked_as_internal(self, apm_capture: Capture, caplog):
        """A misspelled kind logs a warning and still tracks the call."""
        with caplog.at_level(logging.WARNING, "autobot_apm"):
            tracker = track_operation("x", kind="pipelin")  # type: ignore[arg-type]
        with tracker:
            pass
        assert SpanKind.INTERNAL == apm_capture.span("x").kind
        assert "unknown operation kind 'pipelin'" in caplog.text


class TestUntracked:
    def test_unconfigured_calls_run_and_reporting_is_harmless(self, monkeypatch):
        """Without a configured runtime the call runs and op.items() does nothing."""
        monkeypatch.setattr(_runtime, "current", None)

        @track_operation("stage", pipeline="media")
        def stage():
            apm.current_operation(TrackedOperation).items(2, failed=1)
            return "ran"

        assert "ran" == stage()
        with track_operation("media", kind="pipeline") as op:
            op.items(1)
            assert None is op.pipeline
