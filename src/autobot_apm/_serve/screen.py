"""Where serve writes: traces scroll by, the per-service table stays at the bottom.

On a terminal the table is redrawn in place: before anything new is written, the cursor
moves up over the table drawn last and clears to the end of the screen, the new text is
written, then the table again below it. Anywhere else (a pipe, a file, a test) nothing
is ever erased: the table is printed as plain lines each time it is refreshed.
"""

from __future__ import annotations

import threading
from typing import TextIO

from .._sdk.console.text import write_text

# ANSI: cursor to the start of the line n lines up; erase from the cursor to the end.
_UP = "\x1b[{}F"
_CLEAR_BELOW = "\x1b[J"


class Screen:
    """Text above, one table below; thread-safe, so lines never interleave."""

    def __init__(self, out: TextIO, *, live: bool) -> None:
        self._out = out
        self.live = live
        self._table = ""  # as last drawn, with its trailing newline
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        """Write ``text`` (one or more lines) above the table."""
        with self._lock:
            block = text if text.endswith("\n") else text + "\n"
            if self.live and self._table:
                write_text(self._out, self._erase() + block + self._table)
            else:
                write_text(self._out, block)

    def show_table(self, text: str) -> None:
        """Replace the table on a terminal; elsewhere, print it as it is now."""
        with self._lock:
            block = text if not text or text.endswith("\n") else text + "\n"
            if self.live:
                write_text(self._out, self._erase() + block)
                self._table = block
            elif block:
                write_text(self._out, block)

    def _erase(self) -> str:
        lines = self._table.count("\n")
        return _UP.format(lines) + _CLEAR_BELOW if lines else ""
