"""A plain aligned text table: text columns to the left, number columns to the right."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .text import paint

Column = tuple[str, str]  # (header, "<" for text or ">" for numbers)


def render_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    color: bool,
    styles: Mapping[int, str] | None = None,
) -> str:
    """Rows under a header line, columns padded to their widest cell, no trailing spaces.

    ``styles`` maps a column index to a style of :func:`paint`; padding is measured on
    the text alone, so escape codes never throw the alignment off.
    """
    widths = [
        max(len(header), *(len(row[index]) for row in rows))
        for index, (header, _) in enumerate(columns)
    ]
    header = _line([h for h, _ in columns], columns, widths, {}, color=False)
    lines = [paint(header, "header", color)]
    lines.extend(_line(row, columns, widths, styles or {}, color) for row in rows)
    return "\n".join(lines)


def _line(
    cells: Sequence[str],
    columns: Sequence[Column],
    widths: Sequence[int],
    styles: Mapping[int, str],
    color: bool,
) -> str:
    parts = []
    for index, (cell, (_, align), width) in enumerate(zip(cells, columns, widths, strict=True)):
        shown = paint(cell, styles[index], color) if index in styles else cell
        padding = " " * (width - len(cell))
        parts.append(padding + shown if align == ">" else shown + padding)
    return "  ".join(parts).rstrip()
