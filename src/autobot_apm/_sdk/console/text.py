"""Small text primitives shared by the console views: units, colours and shortening.

Everything here is pure and cheap; the renderers call these once per cell.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

# ANSI SGR sequences, by the role they play on screen rather than by colour name, so
# a palette change touches one table.
STYLES: Mapping[str, str] = {
    "header": "\x1b[1m",
    "muted": "\x1b[2m",
    "name": "\x1b[1m",
    "kind": "\x1b[36m",
    "service": "\x1b[35m",
    "error": "\x1b[1;31m",
    "number": "\x1b[33m",
}
RESET = "\x1b[0m"

# Box drawing, micro sign and the error cross are not in every console encoding (a
# Windows code page, LANG=C); these replacements keep the output legible there.
ASCII_FALLBACK = str.maketrans(
    {"├": "|", "└": "`", "│": "|", "─": "-", "µ": "u", "✗": "x", "·": "-", "…": "~"}
)

_NANOS_PER_UNIT = (("s", 1_000_000_000), ("ms", 1_000_000), ("µs", 1_000))


def paint(text: str, style: str, color: bool) -> str:
    """Wrap ``text`` in the ANSI style for ``style`` when ``color`` is on."""
    if not color or not text:
        return text
    return f"{STYLES[style]}{text}{RESET}"


def to_ascii(text: str) -> str:
    """Replace the few non-ASCII characters the views use with ASCII look-alikes."""
    return text.translate(ASCII_FALLBACK)


def three_figures(value: float) -> str:
    """Format a magnitude with about three significant figures: 1.23, 12.3, 123, 1234."""
    size = abs(value)
    if size >= 100 or size == 0:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_nanos(nanos: int | float) -> str:
    """Human duration from nanoseconds: ``850 µs``, ``12.3 ms``, ``1.25 s``."""
    if nanos < 0:
        return "-" + format_nanos(-nanos)
    for unit, size in _NANOS_PER_UNIT:
        # Round before choosing the unit, so 999.96 ms reads "1.00 s", not "1000 ms".
        if float(three_figures(nanos / size)) >= 1:
            return f"{three_figures(nanos / size)} {unit}"
    return f"{three_figures(nanos / 1_000)} µs"


def format_seconds(seconds: float) -> str:
    """Human duration from seconds, the unit OpenTelemetry duration metrics use."""
    return format_nanos(seconds * 1_000_000_000)


def format_number(value: float) -> str:
    """A count or measurement: whole numbers in full, other values with three figures."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return three_figures(value) if abs(value) >= 0.01 else f"{value:.3g}"


def format_bytes(value: float) -> str:
    """Bytes in binary units: ``512 B``, ``1.50 KiB``, ``3.25 GiB``."""
    if abs(value) < 1024:
        return f"{format_number(value)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if abs(value) < 1024 or unit == "TiB":
            break
    return f"{three_figures(value)} {unit}"


# Control characters in text from elsewhere (a span name received from another service)
# could move the cursor or recolour the terminal; they are shown as "?".
_CONTROL_CHARACTERS = dict.fromkeys([*range(0x20), 0x7F, *range(0x80, 0xA0)], "?")


def shorten(text: str, limit: int) -> str:
    """Fit ``text`` on part of one line: whitespace collapsed, control characters
    replaced, cut to ``limit`` characters with the cut marked."""
    flat = " ".join(text.split()).translate(_CONTROL_CHARACTERS)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def wants_color(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR", ""):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream is not a terminal
        return False


def write_text(stream: TextIO, text: str) -> None:
    """Write and flush, falling back to ASCII where the stream cannot encode the text."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(to_ascii(text).encode("ascii", "replace").decode("ascii"))
    stream.flush()
