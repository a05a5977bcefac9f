"""Percentile estimates from histogram buckets."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from autobot_apm._sdk.console.estimate import (
    Summary,
    estimate_quantile,
    explicit_buckets,
    exponential_buckets,
    summarize,
)

BOUNDS = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]


def uniform_sample() -> list[float]:
    """100 values evenly spread over 0..10: 0.05, 0.15, ..., 9.95."""
    return [n / 10 + 0.05 for n in range(100)]


def bucket_counts(values: list[float], bounds: list[float]) -> list[int]:
    counts = [0] * (len(bounds) + 1)
    for value in values:
        counts[sum(value > bound for bound in bounds)] += 1
    return counts


class TestEstimateQuantile:
    def test_known_uniform_distribution(self) -> None:
        """Interpolation inside the bucket recovers the percentiles of an even spread."""
        values = uniform_sample()
        buckets = explicit_buckets(BOUNDS, bucket_counts(values, BOUNDS))

        estimates = [estimate_quantile(q, buckets, min(values), max(values)) for q in (0.5, 0.95)]

        # p50: half-way through (4, 5]; p95: half-way through (9, 10] clamped to max 9.95.
        assert [5.0, 9.475] == pytest.approx(estimates)

    def test_first_bucket_starts_at_min(self) -> None:
        """The open first bucket is interpolated from the recorded min, not from -inf."""
        values = uniform_sample()
        buckets = explicit_buckets(BOUNDS, bucket_counts(values, BOUNDS))

        assert 0.525 == pytest.approx(estimate_quantile(0.05, buckets, 0.05, 9.95))

    def test_single_value(self) -> None:
        """When min equals max the estimate is exact."""
        buckets = explicit_buckets(BOUNDS, bucket_counts([2.5] * 7, BOUNDS))

        assert 2.5 == estimate_quantile(0.95, buckets, 2.5, 2.5)

    def test_no_measurements(self) -> None:
        """Empty buckets give no estimate."""
        empty = explicit_buckets(BOUNDS, [0] * 11)

        assert estimate_quantile(0.5, empty, math.inf, -math.inf) is None

    def test_no_finite_edge(self) -> None:
        """A single unbounded bucket without min and max gives no estimate."""
        assert estimate_quantile(0.5, explicit_buckets([], [3]), math.inf, -math.inf) is None

    @given(st.lists(st.floats(-50, 50), min_size=1, max_size=60), st.floats(0, 1))
    @example(values=[0.0, 0.03125, 0.03125, 0.05], quantile=1.0)  # rounded past the max
    def test_within_measured_range(self, values: list[float], quantile: float) -> None:
        """An estimate never leaves [min, max] of the measurements."""
        bounds = [-10.0, 0.0, 0.5, 1.0, 5.0, 25.0]
        buckets = explicit_buckets(bounds, bucket_counts(values, bounds))

        estimate = estimate_quantile(quantile, buckets, min(values), max(values))

        assert estimate is not None
        assert min(values) <= estimate <= max(values)


class TestExponentialBuckets:
    def test_edges_at_scale_zero(self) -> None:
        """At scale 0 the base is 2; negatives mirror positives around the zero bucket."""
        buckets = exponential_buckets(0, 1, positive=(0, [1, 2]), negative=(1, [4]))

        assert [(-4.0, -2.0, 4), (0.0, 0.0, 1), (1.0, 2.0, 1), (2.0, 4.0, 2)] == buckets

    def test_finer_scale(self) -> None:
        """At scale 1 the base is the square root of 2."""
        buckets = exponential_buckets(1, 0, positive=(2, [5]), negative=(0, []))

        assert [(0.0, 0.0, 0), (2.0, pytest.approx(2 * math.sqrt(2)), 5)] == buckets


class TestSummarize:
    def test_histogram_point_summary(self) -> None:
        """Count, mean and max are exact; p50 and p95 come from the buckets."""
        values = uniform_sample()
        buckets = explicit_buckets(BOUNDS, bucket_counts(values, BOUNDS))

        summary = summarize(buckets, len(values), sum(values), min(values), max(values))

        expected = Summary(
            count=100,
            mean=pytest.approx(5.0),
            p50=pytest.approx(5.0),
            p95=pytest.approx(9.475),
            max=pytest.approx(9.95),
        )
        assert expected == summary

    def test_empty_point(self) -> None:
        """A point without measurements has a count of zero and nothing else."""
        assert Summary(0, None, None, None, None) == summarize([], 0, 0.0, math.inf, -math.inf)
