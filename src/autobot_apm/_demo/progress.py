"""Progress lines: a spinner while a step runs on a terminal, then ``✓`` or ``✗``.

On a terminal each step shows a spinner and its running time, redrawn in place, and is
replaced by its result line when it ends. Anywhere else (a pipe, a file, CI logs) only
the result lines are written, with no cursor movement and no colour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from .._sdk.console.text import paint, write_text

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
FRAME_SECONDS = 0.1
CLEAR_LINE = "\r\x1b[2K"


class Step:
    """A running step; ``done()`` sets the line shown when it succeeds."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.result = title
        self.started = time.monotonic()

    def done(self, result: str) -> None:
        self.result = result

    @property
    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"


class Progress:
    """Writes the progress of the demo's steps to ``out``."""

    def __init__(self, out: TextIO, *, live: bool, color: bool) -> None:
        self.out = out
        self.live = live
        self.color = color
        self._lock = threading.Lock()

    @contextmanager
    def step(self, title: str) -> Iterator[Step]:
        """Run a step: ``✓ result (time)`` when the block ends, ``✗ title`` if it raises."""
        step = Step(title)
        stop = threading.Event()
        spinner = threading.Thread(target=self._spin, args=(step, stop), daemon=True)
        if self.live:
            spinner.start()
        try:
            yield step
        except BaseException:
            self._finish(stop, spinner, paint("✗", "error", self.color) + f" {title}")
            raise
        self._finish(stop, spinner, f"{paint('✓', 'kind', self.color)} {step.result}", step)

    def _finish(
        self, stop: threading.Event, spinner: threading.Thread, line: str, step: Step | None = None
    ) -> None:
        stop.set()
        if spinner.is_alive():
            spinner.join()
        timing = f" {paint(f'({step.elapsed})', 'muted', self.color)}" if step else ""
        self._write(f"{CLEAR_LINE if self.live else ''}{line}{timing}\n")

    def _spin(self, step: Step, stop: threading.Event) -> None:
        for frame in _cycle(FRAMES):
            self._write(
                f"{CLEAR_LINE}{paint(frame, 'kind', self.color)} {step.title}… {step.elapsed}"
            )
            if stop.wait(FRAME_SECONDS):
                return

    def _write(self, text: str) -> None:
        with self._lock:
            write_text(self.out, text)


def _cycle(frames: str) -> Iterator[str]:
    while True:
        yield from frames
