"""Pipelines: items processed and failed, throughput, and stages nested in pipelines."""

import contextlib

import pytest

import autobot_apm as apm
from autobot_apm.operation import TrackedOperation, track_operation
from autobot_apm.testing import Capture

ITEMS = "autobot_apm.pipeline.items"
PROCESSED = {"autobot_apm.item.result": "processed"}
FAILED = {"autobot_apm.item.result": "failed"}


class TestItems:
    def test_counts_processed_and_failed(self, apm_capture: Capture):
        """items(n, failed=k) adds up and is counted by result when the call ends."""
        with track_operation("media", kind="pipeline") as pipeline:
            pipeline.items(4)
            pipeline.items(3, failed=1)
            pipeline.items(failed=1)
        labels = {"autobot_apm.pipeline.name": "media", "autobot_apm.operation.name": "media"}
        assert 7 == apm_capture.counter_value(ITEMS, {**labels, **PROCESSED})
        assert 2 == apm_capture.counter_value(ITEMS, {**labels, **FAILED})
        attributes = apm_capture.span("media").attributes
        assert 7 == attributes["autobot_apm.pipeline.items.processed"]
        assert 2 == attributes["autobot_apm.pipeline.items.failed"]

    def test_throughput_is_processed_items_per_second(self, apm_capture: Capture, apm_clock):
        """The span's throughput is the processed items divided by the call's duration."""
        with track_operation("media", kind="pipeline") as pipeline:
            apm_clock.advance(2.0)
            pipeline.items(10, failed=5)
        assert 5.0 == apm_capture.span("media").attributes["autobot_apm.pipeline.throughput"]

    @pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
    def test_invalid_counts_are_ignored(self, apm_capture: Capture, bad):
        """A count that is not a whole number >= 0 is ignored, never raised."""
        with track_operation("media", kind="pipeline") as pipeline:
            pipeline.items(bad)
            pipeline.items(failed=bad)
        assert [] == apm_capture.metric_points(ITEMS)

    def test_generator_counts_what_it_yields(self, apm_capture: Capture):
        """Each value a tracked generator yields is one processed item."""

        @track_operation("read", pipeline="etl")
        def read():
            yield from ("a", "b", "c")

        assert ["a", "b", "c"] == list(read())
        assert 3 == apm_capture.counter_value(ITEMS, {"autobot_apm.operation.name": "read"})

    def test_reported_items_replace_the_yield_count(self, apm_capture: Capture):
        """A generator that yields batches reports its items; the yields are not counted."""

        @track_operation("batches", pipeline="etl")
        def batches():
            for batch in ([1, 2, 3], [4, 5]):
                apm.current_operation(TrackedOperation).items(len(batch))
                yield batch

        list(batches())
        assert 5 == apm_capture.counter_value(ITEMS, PROCESSED)

    def test_plain_operation_reporting_nothing_counts_nothing(self, apm_capture: Capture):
        """Outside pipelines an operation is not an item unless it says so."""
        with track_operation("housekeeping"):
            pass
        assert [] == apm_capture.metric_points(ITEMS)
        assert "autobot_apm.pipeline.throughput" not in apm_capture.span("housekeeping").attributes


class TestStages:
    def test_stage_call_is_one_item(self, apm_capture: Capture):
        """A stage that reports nothing counts one item: processed, or failed if it raised."""

        @track_operation("transcribe", modality="audio", pipeline="media")
        def transcribe(clip):
            if clip == "noise":
                raise ValueError(clip)
            return clip.upper()

        for clip in ("a", "b", "noise"):
            with contextlib.suppress(ValueError):
                transcribe(clip)
        stage = {"autobot_apm.operation.name": "transcribe", "autobot_apm.pipeline.name": "media"}
        assert 2 == apm_capture.counter_value(ITEMS, {**stage, **PROCESSED})
        assert 1 == apm_capture.counter_value(ITEMS, {**stage, **FAILED})

    def test_fail_counts_the_item_failed(self, apm_capture: Capture):
        """op.fail() without an exception makes the stage's item a failed one."""
        with track_operation("validate", pipeline="etl") as op:
            op.fail("schema")
        assert 1 == apm_capture.counter_value(ITEMS, FAILED)

    def test_nested_stages_are_children_and_join_the_pipeline(self, apm_capture: Capture):
        """Operations inside a pipeline are its child spans and carry its name."""
        with track_operation("media", kind="pipeline"), track_operation("decode") as decode:
            decode.items(2)
            with track_operation("resize"):
                pass
        root, decode_span, resize = (apm_capture.span(n) for n in ("media", "decode", "resize"))
        assert root.context.span_id == decode_span.parent.span_id
        assert decode_span.context.span_id == resize.parent.span_id
        assert "media" == resize.attributes["autobot_apm.pipeline.name"]
        assert 1 == apm_capture.counter_value(ITEMS, {"autobot_apm.operation.name": "resize"})
        assert 1 == apm_capture.histogram_count(
            "autobot_apm.operation.duration",
            {"autobot_apm.operation.name": "decode", "autobot_apm.pipeline.name": "media"},
        )

    def test_pipeline_is_found_through_other_trackers(self, apm_capture: Capture):
        """A stage under a database call inside a pipeline still joins the pipeline."""
        pipeline, search = track_operation("rag", kind="pipeline"), apm.track_database("qdrant")
        with pipeline, search, track_operation("rerank") as rerank:
            assert "rag" == rerank.pipeline
        assert "rag" == apm_capture.span("rerank").attributes["autobot_apm.pipeline.name"]

    def test_pipeline_root_reporting_nothing_counts_nothing(self, apm_capture: Capture):
        """The pipeline itself is not an item; its stages are."""
        with track_operation("media", kind="pipeline"), track_operation("decode"):
            pass
        (point,) = apm_capture.metric_points(ITEMS)
        assert "decode" == point.attributes["autobot_apm.operation.name"]

    def test_explicit_pipeline_wins_over_the_enclosing_one(self, apm_capture: Capture):
        """A stage that names its pipeline keeps that name inside another pipeline."""
        with track_operation("outer", kind="pipeline"), track_operation("s", pipeline="inner"):
            pass
        assert 1 == apm_capture.counter_value(ITEMS, {"autobot_apm.pipeline.name": "inner"})
