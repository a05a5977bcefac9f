"""Percentiles estimated from histogram buckets, the way Prometheus' ``histogram_quantile`` does.

A histogram keeps counts per bucket, not the measurements, so a percentile can only be
estimated: find the bucket holding the wanted rank and interpolate linearly inside it,
as if its measurements were spread evenly between its edges. The open-ended first and
last buckets, and every bucket edge, are clamped to the recorded min and max, which
makes the estimate exact at the extremes and never outside the measured range. The
error is at most the width of one bucket, so the estimate is as good as the buckets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Bucket = tuple[float, float, int]
"""(lower edge, upper edge, count): measurements ``lower < x <= upper``."""


@dataclass(frozen=True)
class Summary:
    """What the console shows of one histogram point; estimates are marked as such."""

    count: int
    mean: float | None
    p50: float | None  # estimated
    p95: float | None  # estimated
    max: float | None


def explicit_buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[Bucket]:
    """Buckets of an explicit-bounds histogram: ``(-inf, b0], (b0, b1], ..., (bn, +inf)``."""
    edges = [-math.inf, *bounds, math.inf]
    return [(edges[index], edges[index + 1], count) for index, count in enumerate(counts)]


def exponential_buckets(
    scale: int,
    zero_count: int,
    positive: tuple[int, Sequence[int]],
    negative: tuple[int, Sequence[int]],
) -> list[Bucket]:
    """Buckets of an exponential histogram, ascending; ``positive``/``negative`` are
    ``(offset, counts)``. Bucket ``i`` covers ``(base**i, base**(i+1)]`` with
    ``base = 2**(2**-scale)``, mirrored for negative values."""
    base_log2 = 2.0**-scale
    below = [
        (-(2.0 ** ((index + 1) * base_log2)), -(2.0 ** (index * base_log2)), count)
        for index, count in enumerate(negative[1], start=negative[0])
    ]
    above = [
        (2.0 ** (index * base_log2), 2.0 ** ((index + 1) * base_log2), count)
        for index, count in enumerate(positive[1], start=positive[0])
    ]
    return [*reversed(below), (0.0, 0.0, zero_count), *above]


def estimate_quantile(
    quantile: float, buckets: Sequence[Bucket], low: float, high: float
) -> float | None:
    """Estimate the ``quantile`` (0..1) of measurements in ``buckets``, min ``low``, max ``high``.

    Returns None when there is nothing to estimate from (no measurement, or no finite
    edge at all).
    """
    total = sum(count for _, _, count in buckets)
    if total == 0:
        return None
    rank = quantile * total
    seen = 0
    for lower, upper, count in buckets:
        if count and seen + count >= rank:
            lower, upper = _clamp_edges(lower, upper, low, high)
            estimate = lower + (upper - lower) * (rank - seen) / count
            # Kept inside its edges: the interpolation may round past the upper one
            # (0.03125 + 0.01875 * 1.0 is 0.05000000000000001), beyond the recorded max.
            estimate = min(max(estimate, lower), upper)
            return estimate if math.isfinite(estimate) else None
        seen += count
    return None  # unreachable for consistent counts; a safe answer otherwise


def summarize(
    buckets: Sequence[Bucket], count: int, total: float, low: float, high: float
) -> Summary:
    """Count, mean, estimated p50 and p95, and max of one histogram point."""
    if count == 0:
        return Summary(0, None, None, None, None)
    return Summary(
        count=count,
        mean=total / count,
        p50=estimate_quantile(0.50, buckets, low, high),
        p95=estimate_quantile(0.95, buckets, low, high),
        max=high if math.isfinite(high) else None,
    )


def _clamp_edges(lower: float, upper: float, low: float, high: float) -> tuple[float, float]:
    if math.isfinite(low):
        lower = min(max(lower, low), upper)
    if math.isfinite(high):
        upper = max(min(upper, high), lower)
    # Without a recorded min or max an open-ended bucket collapses onto its one finite edge.
    if not math.isfinite(lower):
        lower = upper
    if not math.isfinite(upper):
        upper = lower
    return lower, upper
