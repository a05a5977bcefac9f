"""The duration buckets fit the shipped latency alerts.

Known durations go through the library's own histograms (the SDK aggregates them into
the buckets the trackers declare); the alert's quantile is then computed from the
buckets the way Prometheus' ``histogram_quantile`` does (linear interpolation inside the
bucket that holds the rank) and compared with the true quantile of the same durations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from autobot_apm.api import HTTP_SERVER_DURATION as HTTP_DURATION
from autobot_apm.database import DB_DURATION
from autobot_apm.testing import Capture

RULES = Path(__file__).resolve().parents[2] / "rules" / "autobot-apm.rules.yml"
# alert -> (metric its p95 record reads, the threshold in the rule)
ALERTS = {
    "DatabaseOperationsSlow": (DB_DURATION, 1.0),
    "ApiLatencyHigh": (HTTP_DURATION, 5.0),
}
# Durations as multiples of the threshold: a slow tail of 10% or all calls.
SCENARIOS = [(0.02, 0.90, ratio) for ratio in (1.05, 1.2, 1.35, 1.5)] + [
    (0.02, 0.0, ratio) for ratio in (0.8, 0.95, 1.05, 1.2, 1.5)
]


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float:
    """Prometheus' bucketQuantile over one histogram (``counts`` per bucket, +Inf last)."""
    cumulative = [sum(counts[: index + 1]) for index in range(len(counts))]
    rank = q * cumulative[-1]
    index = next(i for i, total in enumerate(cumulative) if total >= rank)
    if index == len(bounds):  # the rank is in the +Inf bucket
        return bounds[-1]
    start = bounds[index - 1] if index > 0 else 0.0
    below = cumulative[index - 1] if index > 0 else 0
    return start + (bounds[index] - start) * (rank - below) / (cumulative[index] - below)


def true_quantile(q: float, durations: Sequence[float]) -> float:
    ordered = sorted(durations)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def recorded_buckets(spec: object, durations: Sequence[float]) -> tuple[list[float], list[int]]:
    capture = Capture()
    try:
        histogram = capture.runtime.histogram(spec)  # type: ignore[arg-type]
        for duration in durations:
            histogram.record(duration, {"job": "worker"})
        (point,) = capture.metric_points(spec.name)  # type: ignore[attr-defined]
        return list(point.explicit_bounds), list(point.bucket_counts)
    finally:
        capture.close()


def durations_for(threshold: float, fast: float, fast_share: float, ratio: float) -> list[float]:
    fast_calls = round(1000 * fast_share)
    return [fast] * fast_calls + [threshold * ratio] * (1000 - fast_calls)


class TestRulesAndBuckets:
    @pytest.mark.parametrize("alert", sorted(ALERTS))
    def test_the_threshold_is_in_the_rule(self, alert: str):
        """The thresholds tested here are the ones the rules file ships."""
        _, threshold = ALERTS[alert]
        rule = re.search(rf"- alert: {alert}\n\s+expr: .* > ([\d.]+)\n", RULES.read_text())
        assert rule is not None
        assert threshold == float(rule.group(1))

    @pytest.mark.parametrize("alert", sorted(ALERTS))
    def test_the_threshold_is_an_edge_with_close_neighbours(self, alert: str):
        """Each threshold is a bucket edge, with an edge within 25% on each side."""
        spec, threshold = ALERTS[alert]
        bounds = list(spec.buckets)
        index = bounds.index(threshold)
        assert bounds[index - 1] >= 0.75 * threshold
        assert bounds[index + 1] <= 1.25 * threshold


class TestQuantiles:
    @pytest.mark.parametrize("alert", sorted(ALERTS))
    @pytest.mark.parametrize(("fast", "fast_share", "ratio"), SCENARIOS)
    def test_p95_within_20_percent(self, alert: str, fast: float, fast_share: float, ratio: float):
        """The p95 the alert reads is within 20% of the true p95 of the same calls."""
        spec, threshold = ALERTS[alert]
        durations = durations_for(threshold, fast, fast_share, ratio)
        bounds, counts = recorded_buckets(spec, durations)
        estimated, true = histogram_quantile(0.95, bounds, counts), true_quantile(0.95, durations)
        assert abs(estimated - true) <= 0.2 * true, (estimated, true)

    @pytest.mark.parametrize("alert", sorted(ALERTS))
    @pytest.mark.parametrize(("fast", "fast_share", "ratio"), SCENARIOS)
    def test_the_alert_fires_exactly_when_the_true_p95_is_over(
        self, alert: str, fast: float, fast_share: float, ratio: float
    ):
        """Threshold on an edge: the estimated and the true p95 agree on firing."""
        spec, threshold = ALERTS[alert]
        durations = durations_for(threshold, fast, fast_share, ratio)
        bounds, counts = recorded_buckets(spec, durations)
        estimated, true = histogram_quantile(0.95, bounds, counts), true_quantile(0.95, durations)
        assert (true > threshold) == (estimated > threshold)

    def test_one_and_a_half_second_queries(self):
        """The reported case: queries of 1.5 s no longer read as a 4.8 s p95."""
        bounds, counts = recorded_buckets(DB_DURATION, [1.5] * 100)
        assert 1.5 * 0.8 <= histogram_quantile(0.95, bounds, counts) <= 1.5
