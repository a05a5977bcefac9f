"""Which attributes reach the span and which the duration histogram."""

import enum

from autobot_apm.operation import OPERATION_DURATION_BUCKETS, track_operation
from autobot_apm.testing import Capture

DURATION = "autobot_apm.operation.duration"


class Tier(enum.Enum):
    FREE = "free"


class TestSpanAttributes:
    def test_keyword_attributes_go_on_the_span(self, apm_capture: Capture):
        """Arbitrary keyword attributes, ids included, are recorded on the span."""
        with track_operation("ingest", document_id="doc-81723", pages=12):
            pass
        attributes = apm_capture.span("ingest").attributes
        assert "doc-81723" == attributes["document_id"]
        assert 12 == attributes["pages"]

    def test_declared_attributes_are_namespaced(self, apm_capture: Capture):
        """pipeline and modality become autobot_apm.* span attributes."""
        with track_operation("ocr", pipeline="docs", modality="image"):
            pass
        attributes = apm_capture.span("ocr").attributes
        assert "docs" == attributes["autobot_apm.pipeline.name"]
        assert "image" == attributes["autobot_apm.modality"]


class TestMetricAttributes:
    def test_keyword_attributes_never_reach_the_metric(self, apm_capture: Capture):
        """An id passed as a keyword attribute does not create a metric series."""
        for user_id in ("u1", "u2", "u3"):
            with track_operation("login", user_id=user_id):
                pass
        (point,) = apm_capture.metric_points(DURATION)
        assert {"autobot_apm.operation.name": "login"} == dict(point.attributes)
        assert 3 == point.count

    def test_declared_keys_label_the_metric(self, apm_capture: Capture):
        """Operation name, pipeline and modality label the duration histogram."""
        with track_operation("transcribe", pipeline="media", modality="audio"):
            pass
        (point,) = apm_capture.metric_points(DURATION)
        assert {
            "autobot_apm.operation.name": "transcribe",
            "autobot_apm.pipeline.name": "media",
            "autobot_apm.modality": "audio",
        } == dict(point.attributes)

    def test_metric_attributes_keep_bounded_types(self, apm_capture: Capture):
        """metric_attributes keeps str, bool, int and enum values; others stay on the span."""
        labels = {"tier": Tier.FREE, "gpu": True, "shard": 3, "model": "whisper", "ratio": 0.5}
        with track_operation("asr", metric_attributes=labels):
            pass
        (point,) = apm_capture.metric_points(DURATION)
        expected = {"tier": "free", "gpu": True, "shard": 3, "model": "whisper"}
        assert {**expected, "autobot_apm.operation.name": "asr"} == dict(point.attributes)
        assert 0.5 == apm_capture.span("asr").attributes["ratio"]

    def test_declared_keys_win_over_metric_attributes(self, apm_capture: Capture):
        """metric_attributes cannot replace the operation name."""
        with track_operation("real", metric_attributes={"autobot_apm.operation.name": "fake"}):
            pass
        assert 1 == apm_capture.histogram_count(DURATION, {"autobot_apm.operation.name": "real"})

    def test_duration_buckets_reach_minutes(self, apm_capture: Capture):
        """The histogram uses this library's buckets, from 5 ms to 10 minutes."""
        with track_operation("stage"):
            pass
        (point,) = apm_capture.metric_points(DURATION)
        assert OPERATION_DURATION_BUCKETS == tuple(point.explicit_bounds)
        assert 600 == point.explicit_bounds[-1]
