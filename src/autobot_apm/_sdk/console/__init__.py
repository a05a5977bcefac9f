"""Console output, the default when no collector is configured, and the shared text views.

``ConsoleSpanExporter`` prints each trace as a tree when it ends;
``ConsoleMetricExporter`` prints an aligned table of metrics. ``render_trace_tree`` and
``render_metrics_table`` are the pure renderers behind them, also used by
``autobot-apm demo`` for spans received over OTLP.
"""

from .metrics import ConsoleMetricExporter, metric_rows
from .record import SpanEventView, SpanRecord, SpanView
from .render import render_trace_tree
from .spans import ConsoleSpanExporter
from .table import MetricRow, render_metrics_table

__all__ = [
    "ConsoleMetricExporter",
    "ConsoleSpanExporter",
    "MetricRow",
    "SpanEventView",
    "SpanRecord",
    "SpanView",
    "metric_rows",
    "render_metrics_table",
    "render_trace_tree",
]
