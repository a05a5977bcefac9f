"""One OpenTelemetry SDK pipeline shared by the hand-written floor and autobot-apm.

Both sides get the very same tracer (same sampler, same BatchSpanProcessor to an exporter
that drops everything) and the very same histogram instrument, so the only difference
left between them is the code that calls the SDK.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace import sampling as otel_sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from autobot_apm._sdk.settings import resolve
from autobot_apm._sdk.setup import INSTRUMENTATION_SCOPE
from autobot_apm._tracking import runtime as _runtime


class NullSpanExporter(SpanExporter):
    """Accepts every batch and keeps nothing: export is off the measured path anyway."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


@dataclass
class Pipeline:
    """Providers plus the autobot-apm runtime built on them."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    runtime: _runtime.Runtime
    exporter: NullSpanExporter

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def pipeline(sampled: bool = True) -> Pipeline:
    """The library's default set-up (parent-based sampler, batch processor), exporting nowhere.

    ``sampled=False`` swaps in a sampler that drops every trace: spans become
    non-recording, metrics are still recorded.
    """
    root = otel_sampling.ALWAYS_ON if sampled else otel_sampling.ALWAYS_OFF
    resource = Resource.create({"service.name": "bench"})
    exporter = NullSpanExporter()
    tracer_provider = TracerProvider(
        resource=resource, sampler=otel_sampling.ParentBased(root), shutdown_on_exit=False
    )
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
    )
    runtime = _runtime.Runtime(
        tracer_provider.get_tracer(INSTRUMENTATION_SCOPE),
        meter_provider.get_meter(INSTRUMENTATION_SCOPE),
        resolve({}, environ={}),  # defaults, whatever OTEL_* the shell has
    )
    return Pipeline(tracer_provider, meter_provider, runtime, exporter)


def use(runtime: Any, module: ModuleType = _runtime) -> None:
    """Make ``runtime`` the one tracked calls see, without re-running configure hooks.

    ``install`` also replays every on_configure callback (pool gauges, the sampler);
    variants switch runtimes at every batch, so they set the slots directly. ``module``
    is the ``_runtime`` of the package measured (a candidate copy, with ``--compare``).
    """
    module.current = runtime
    active = getattr(module, "active", None)  # a list some versions keep in step
    if isinstance(active, list):
        active[:] = [] if runtime is None else [runtime]


def load_candidate(source: Path, name: str = "autobot_apm_candidate") -> ModuleType:
    """Import the copy of the package under ``source`` (a ``src`` folder) as ``name``.

    The package imports itself relatively, so a second copy loads side by side with
    the installed one and can be timed in the same rounds (``--compare``).
    """
    package = source / "autobot_apm"
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"no autobot_apm package under {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
