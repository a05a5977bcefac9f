"""An aligned text table of metric points, one row per metric and attribute set::

    metric                attributes  value  count     mean      p50      p95      max
    app.job.duration (s)  queue=mail             4  20.0 ms  20.0 ms  34.0 ms  35.0 ms
    app.orders (order)    shop=north      3
                          shop=south      5

Values are printed in the metric's unit made human: seconds as µs/ms/s, bytes as
KiB/MiB, utilization ratios as percentages. Columns no row fills are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .text import format_bytes, format_nanos, format_number, format_seconds, paint, shorten

VALUE_LIMIT = 40  # characters of one attribute value; labels should be short anyway


@dataclass(frozen=True)
class MetricRow:
    """One point of one metric: a sum or gauge ``value``, or a histogram summary."""

    name: str
    unit: str
    attributes: Mapping[str, object] = field(default_factory=dict)
    value: float | None = None
    count: int | None = None
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None
    max: float | None = None


def render_metrics_table(rows: Sequence[MetricRow], *, color: bool) -> str:
    """Render ``rows`` as a table sorted by metric name, then attributes.

    A metric's name is written on its first row only, so its attribute sets read as a
    group. Returns an empty string for no rows. ANSI colour only when ``color``.
    """
    if not rows:
        return ""
    ordered = sorted(rows, key=lambda row: (row.name, format_attributes(row.attributes)))
    body = [_cells(row, previous) for row, previous in zip(ordered, [None, *ordered], strict=False)]
    columns = ["metric"] + [name for name in _OPTIONAL_COLUMNS if any(c[name] for c in body)]
    widths = {name: max(len(name), *(len(cells[name]) for cells in body)) for name in columns}
    header = paint(_line({name: name for name in columns}, widths, False), "header", color)
    return "\n".join([header, *(_line(cells, widths, color) for cells in body)])


def format_attributes(attributes: Mapping[str, object]) -> str:
    """Attributes as ``k=v`` pairs sorted by key, values shortened."""
    return " ".join(
        f"{shorten(key, VALUE_LIMIT)}={shorten(str(value), VALUE_LIMIT)}"
        for key, value in sorted(attributes.items())
    )


def metric_label(name: str, unit: str) -> str:
    """``name (unit)``, with annotation braces dropped and the unitless ``1`` left out."""
    shown = unit.strip("{}")
    return f"{name} ({shown})" if shown and unit != "1" else name


_NUMBER_COLUMNS = ("value", "count", "mean", "p50", "p95", "max")
_OPTIONAL_COLUMNS = ("attributes", *_NUMBER_COLUMNS)
_TEXT_STYLES = {"metric": "name", "attributes": "muted"}


def _cells(row: MetricRow, previous: MetricRow | None) -> dict[str, str]:
    same_metric = previous is not None and previous.name == row.name
    cells = {
        "metric": "" if same_metric else metric_label(row.name, row.unit),
        "attributes": format_attributes(row.attributes),
    }
    for column in _NUMBER_COLUMNS:
        cells[column] = _number(row, column)
    return cells


def _number(row: MetricRow, column: str) -> str:
    number = getattr(row, column)
    if number is None:
        return ""
    if column == "count":
        return str(number)
    return _formatter(row.name, row.unit)(number)


def _formatter(name: str, unit: str) -> Callable[[float], str]:
    if unit == "s":
        return format_seconds
    if unit in _NANOS_PER:
        scale = _NANOS_PER[unit]
        return lambda value: format_nanos(value * scale)
    if unit == "By":
        return format_bytes
    if unit == "1" and name.endswith("utilization"):
        return lambda value: f"{value * 100:.1f}%"
    if unit == "%":
        return lambda value: f"{value:.1f}%"
    return format_number


_NANOS_PER = {"ms": 1_000_000, "us": 1_000, "µs": 1_000, "ns": 1}


def _line(cells: Mapping[str, str], widths: Mapping[str, int], color: bool) -> str:
    """Pad each cell to its column (numbers to the right), no trailing spaces.

    Colour is applied after padding, so escape codes never throw the alignment off.
    """
    columns = list(widths)
    filled = [column for column in columns if cells[column]]
    last = columns.index(filled[-1]) if filled else 0
    parts = []
    for column in columns[: last + 1]:
        text = cells[column]
        if column in _NUMBER_COLUMNS:
            text = text.rjust(widths[column])
        elif column != columns[last]:
            text = text.ljust(widths[column])
        parts.append(paint(text, _TEXT_STYLES[column], color) if column in _TEXT_STYLES else text)
    return "  ".join(parts)
