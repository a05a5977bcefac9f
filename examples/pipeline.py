"""A three-stage multimodal pipeline: audio, image and text stages, counted and timed.

Each stage is a tracked operation of the pipeline "media": one child span per call,
``autobot_apm.operation.duration`` per stage, and ``autobot_apm.pipeline.items`` counting
processed and failed items, so throughput and error rate per stage are one query each.
Log lines carry the trace and span ids of the stage that wrote them.

    python examples/pipeline.py

No collector needed: traces are printed as trees and the metrics as a table at exit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import autobot_apm as apm

log = logging.getLogger("media")


@dataclass
class Upload:
    """One user upload: a voice note with a photo, to be turned into a searchable card."""

    upload_id: int
    audio_seconds: float
    image_pixels: int
    transcript: str = ""
    caption: str = ""


class CorruptAudioError(ValueError):
    """The audio could not be decoded."""


@apm.track_operation("read_uploads", pipeline="media")
def read_uploads(count: int) -> Iterator[Upload]:
    """A source stage: each upload it yields counts as one processed item."""
    for upload_id in range(count):
        yield Upload(upload_id, random.uniform(1, 8), random.choice((640 * 480, 1920 * 1080)))


@apm.track_operation("transcribe", modality="audio", pipeline="media", model="tiny-asr")
def transcribe(upload: Upload) -> None:
    """One item per call: processed when it returns, failed when it raises."""
    time.sleep(upload.audio_seconds / 2000)  # stands in for a speech model
    if upload.upload_id % 7 == 3:
        raise CorruptAudioError(f"upload {upload.upload_id}: bad audio frame")
    upload.transcript = f"note {upload.upload_id} about the harbour"


@apm.track_operation("caption", modality="image", pipeline="media")
def caption(upload: Upload) -> None:
    time.sleep(upload.image_pixels / 4e9)  # stands in for an image model
    upload.caption = "boats at dusk" if upload.image_pixels > 1e6 else "a boat"


@apm.track_operation("index_cards", modality="text", pipeline="media")
def index_cards(batch: list[Upload]) -> int:
    """A batch stage reports how many items it handled, and how many it could not."""
    ready = [upload for upload in batch if upload.transcript]
    time.sleep(0.001 * len(ready))  # stands in for a search index write
    apm.current_operation(apm.TrackedOperation).items(len(ready), failed=len(batch) - len(ready))
    log.info("indexed %d of %d cards", len(ready), len(batch))
    return len(ready)


def run(uploads: int = 20, batch_size: int = 5) -> None:
    """The pipeline span counts what came out at the end; the stages are its children."""
    with apm.track_operation("media", kind="pipeline") as pipeline:
        batch: list[Upload] = []
        for upload in read_uploads(uploads):
            try:
                transcribe(upload)
            except CorruptAudioError:
                log.warning("upload %d has corrupt audio; no card", upload.upload_id)
            caption(upload)
            batch.append(upload)
            if len(batch) == batch_size or upload.upload_id == uploads - 1:
                indexed = index_cards(batch)
                pipeline.items(indexed, failed=len(batch) - indexed)
                batch = []


def main() -> None:
    apm.configure(service_name="media-pipeline", logging=True)
    console = logging.StreamHandler()
    console.setFormatter(apm.TraceContextFormatter())  # lines show trace_id and span_id
    logging.basicConfig(level=logging.INFO, handlers=[console])
    random.seed(7)
    run()
    apm.shutdown()


if __name__ == "__main__":
    main()
