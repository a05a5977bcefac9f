"""track_operation: any unit of work, and pipelines that count the items they process.

The names are this library's own (OpenTelemetry has no convention for them):

* span named by the operation, INTERNAL unless ``kind`` says otherwise, attributes
  ``autobot_apm.operation.name``, ``autobot_apm.pipeline.name``, ``autobot_apm.modality``
  and whatever the caller adds;
* histogram ``autobot_apm.operation.duration`` (s), by ``autobot_apm.operation.name``,
  pipeline, modality, the keys of ``metric_attributes=`` and ``error.type``;
* counter ``autobot_apm.pipeline.items`` ({item}), by pipeline, stage (the operation
  name) and ``autobot_apm.item.result`` (``processed`` or ``failed``), so throughput is
  one rate and the error rate one ratio; the span gets the counts and
  ``autobot_apm.pipeline.throughput`` (processed items per second).

Only declared keys reach the metrics: keyword attributes go on the span alone, so an id
passed by mistake costs one attribute, never a metric series per id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, overload

from opentelemetry.trace import SpanKind

from ._tracking.attributes import OTHER, low_cardinality_label, metric_number, text_argument
from ._tracking.dispatch import target_name
from ._tracking.handle import Operation
from ._tracking.options import NO_EXTRAS, ExtraAttributes, MetricValue, extra_attributes, is_bare
from ._tracking.runtime import MetricSpec, Runtime
from ._tracking.tracker import Tracker

__all__ = ["TrackedOperation", "track_operation"]

F = TypeVar("F", bound=Callable[..., Any])
OperationKind = Literal["internal", "client", "server", "producer", "consumer", "pipeline"]

# Stages take from milliseconds (a resize) to minutes (a transcription of an hour of audio).
OPERATION_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
)  # fmt: skip

OPERATION_DURATION = MetricSpec(
    "autobot_apm.operation.duration", "histogram", "s",
    "Duration of tracked operations.", OPERATION_DURATION_BUCKETS,
)  # fmt: skip
PIPELINE_ITEMS = MetricSpec(
    "autobot_apm.pipeline.items", "counter", "{item}",
    "Items handled by pipeline stages, by pipeline, stage and result (processed or failed).",
)  # fmt: skip

OPERATION_NAME = "autobot_apm.operation.name"
PIPELINE_NAME = "autobot_apm.pipeline.name"
MODALITY = "autobot_apm.modality"
ITEM_RESULT = "autobot_apm.item.result"
ITEMS_PROCESSED = "autobot_apm.pipeline.items.processed"
ITEMS_FAILED = "autobot_apm.pipeline.items.failed"
THROUGHPUT = "autobot_apm.pipeline.throughput"
_INT64_MAX = 2**63 - 1

SPAN_KINDS: dict[str, SpanKind] = {
    "internal": SpanKind.INTERNAL,
    "pipeline": SpanKind.INTERNAL,
    "client": SpanKind.CLIENT,
    "server": SpanKind.SERVER,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}

logger = logging.getLogger("autobot_apm")


class TrackedOperation(Operation):
    """A tracked unit of work. ``items(processed, failed=)`` reports what it handled.

    A tracked generator counts each yielded value as one processed item, unless
    ``items()`` is called, which then decides. A pipeline stage that reports nothing
    counts as one item: processed when it returns, failed when it raises.
    """

    __slots__ = ("_failed", "_is_root", "_pipeline", "_processed", "_reported", "_yielded")

    def _on_start(self) -> None:
        self._processed = 0
        self._failed = 0
        self._yielded = 0
        self._reported = False
        tracker = self._tracker if isinstance(self._tracker, OperationTracker) else None
        self._is_root = tracker is not None and tracker.is_pipeline
        self._pipeline = tracker.pipeline if tracker is not None else None
        if self._pipeline is None and tracker is not None:
            self._join_enclosing_pipeline()

    def items(self, processed: int = 0, *, failed: int = 0) -> None:
        """Add ``processed`` items handled successfully and ``failed`` items that failed."""
        # Counts OTLP cannot carry are dropped, as are adds that would take a running
        # total past 64 bits: the totals become span attributes and counter adds.
        done, lost = metric_number(processed), metric_number(failed)
        if type(done) is not int or type(lost) is not int:
            return
        total_processed, total_failed = self._processed + done, self._failed + lost
        if total_processed <= _INT64_MAX and total_failed <= _INT64_MAX:
            self._processed, self._failed = total_processed, total_failed
            self._reported = True

    @property
    def pipeline(self) -> str | None:
        """The pipeline this operation belongs to: its own, or the enclosing one's."""
        return self._pipeline

    def _join_enclosing_pipeline(self) -> None:
        """A stage nested (in this context) inside a pipeline takes the pipeline's name."""
        parent = self._parent
        while parent is not None and not isinstance(parent, TrackedOperation):
            parent = parent._parent
        if parent is not None and parent._pipeline is not None:
            self._pipeline = parent._pipeline
            label = parent._metric_attributes.get(PIPELINE_NAME)
            self._set_metric_attribute(
                PIPELINE_NAME, label or low_cardinality_label(parent._pipeline)
            )
            self.span.set_attribute(PIPELINE_NAME, parent._pipeline)

    def _on_item(self, item: Any) -> None:
        self._yielded += 1

    def _on_end(self, duration: float) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        runtime.histogram(OPERATION_DURATION).record(duration, self._metric_attributes)
        processed, failed = self._item_counts()
        if processed or failed:
            self._record_items(runtime, processed, failed, duration)

    def _item_counts(self) -> tuple[int, int]:
        """What was reported, else what was yielded, else one item for a pipeline stage."""
        if self._reported:
            return self._processed, self._failed
        if self._yielded:
            return self._yielded, 0
        if self._pipeline is None or self._is_root:
            return 0, 0
        return (0, 1) if self._error_type is not None else (1, 0)

    def _record_items(self, runtime: Runtime, processed: int, failed: int, duration: float) -> None:
        self.span.set_attribute(ITEMS_PROCESSED, processed)
        self.span.set_attribute(ITEMS_FAILED, failed)
        if duration > 0:
            self.span.set_attribute(THROUGHPUT, processed / duration)
        counter = runtime.counter(PIPELINE_ITEMS)
        labels = self._metric_attributes  # the names as short labels (Tracker cut them)
        attributes = {OPERATION_NAME: labels[OPERATION_NAME]}
        if self._pipeline is not None:
            attributes[PIPELINE_NAME] = labels[PIPELINE_NAME]
        for result, count in (("processed", processed), ("failed", failed)):
            if count:
                counter.add(count, {**attributes, ITEM_RESULT: result})


class OperationTracker(Tracker[TrackedOperation]):
    """What ``track_operation(...)`` returns; attributes are sorted out once, here."""

    operation_class = TrackedOperation

    def __init__(
        self,
        name: object,
        *,
        kind: object = "internal",
        pipeline: object = None,
        modality: object = None,
        extras: ExtraAttributes = NO_EXTRAS,
    ) -> None:
        # Any value is accepted, also in a ``with`` at run time: names become text cut to
        # the attribute cap (metric labels shorter still), never raising.
        name = text_argument(name) or OTHER
        kind = text_argument(kind) or "internal"
        self.is_pipeline = kind == "pipeline"
        self.pipeline = text_argument(pipeline) or (name if self.is_pipeline else None)
        modality = text_argument(modality)
        declared = {OPERATION_NAME: name, PIPELINE_NAME: self.pipeline, MODALITY: modality}
        # All of them on the span (coerced there); only bounded types label the metric.
        span_attributes = {**extras.span, **declared}
        super().__init__(
            span_name=name,
            span_kind=_span_kind(kind),
            span_attributes={k: v for k, v in span_attributes.items() if v is not None},
            metric_attributes={**extras.metric, **declared},
        )


def _span_kind(kind: str) -> SpanKind:
    span_kind = SPAN_KINDS.get(kind)
    if span_kind is None:
        # A typo must not break the application at import time: say so, track anyway.
        logger.warning("autobot-apm: unknown operation kind %r, using 'internal'", kind)
        return SpanKind.INTERNAL
    return span_kind


@overload
def track_operation(name: F, /) -> F: ...
@overload
def track_operation(
    name: str,
    /,
    *,
    kind: OperationKind = "internal",
    pipeline: str | None = None,
    modality: str | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    attributes: Mapping[str, object] | None = None,
    **keyword_attributes: object,
) -> OperationTracker: ...
def track_operation(
    name: Any,
    /,
    *,
    kind: OperationKind = "internal",
    pipeline: str | None = None,
    modality: str | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    attributes: Mapping[str, object] | None = None,
    **keyword_attributes: object,
) -> Any:
    """Track any unit of work: a span named ``name`` and its duration histogram.

    ``kind="pipeline"`` makes the operation a pipeline named ``name``; operations started
    inside it (in the same thread or task) are its stages and child spans. A stage run
    elsewhere names its pipeline with ``pipeline=``. ``modality`` (``text``, ``image``,
    ``audio``...) and ``metric_attributes`` label the metrics (and the span);
    ``attributes={...}`` and keywords with a dot in their name go on the span only, so
    they may be ids, as for every tracker. Its own extension, kept from its first
    release: any other keyword (``image_id=...``) is a span attribute too, where the
    other trackers refuse it.

    Example::

        @apm.track_operation("transcribe", modality="audio", pipeline="media")
        def transcribe(clip): ...

        with apm.track_operation("media", kind="pipeline") as pipeline:
            for batch in batches:
                done = process(batch)
                pipeline.items(done, failed=len(batch) - done)
    """
    if is_bare(name):
        return OperationTracker(target_name(name) or OTHER)(name)
    extras = extra_attributes(
        "track_operation",
        ("kind", "pipeline", "modality"),
        keyword_attributes,
        attributes=attributes,
        metric_attributes=metric_attributes,
        undotted_allowed=True,  # released API: keyword attributes of any name
    )
    return OperationTracker(name, kind=kind, pipeline=pipeline, modality=modality, extras=extras)
