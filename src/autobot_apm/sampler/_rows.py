"""What the host and process sources share: psutil reads as a table of rows.

Each row pairs a metric with a function of the collection's reads that gives its
values. A row psutil cannot read here (a permission, a kernel without the file) is
skipped, and the reason kept for ``autobot-apm doctor``; the other rows go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import psutil

from ._types import MetricSpec, Reading, SourceStatus

Values = Iterable[tuple[float, Mapping[str, str]]]
ReadsT = TypeVar("ReadsT")


def read_rows(
    rows: Iterable[tuple[MetricSpec, Callable[[ReadsT], Values]]],
    reads: ReadsT,
    skipped: dict[str, str],
) -> list[Reading]:
    """Every row's readings; a row that fails is noted in ``skipped`` by metric name."""
    readings: list[Reading] = []
    for spec, read in rows:
        try:
            readings.extend(Reading(spec.name, float(v), a) for v, a in read(reads))
        except (psutil.Error, OSError) as exc:
            skipped[spec.name] = f"{type(exc).__name__}: {exc}"
    return readings


def skipped_statuses(component: str, skipped: Mapping[str, str]) -> list[SourceStatus]:
    """One doctor line per metric that could not be read, with the reason."""
    return [SourceStatus(f"{component} {m}", "skipped", e) for m, e in skipped.items()]
