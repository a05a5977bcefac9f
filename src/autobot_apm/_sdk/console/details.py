"""Which span attributes the trace tree shows, under which short label, and how.

A line of the tree has room for a glance, not for every attribute: status code, route,
database and query, cache result, token counts, time to first chunk, error type. The
table below is the whole policy; adding an attribute is adding a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from .record import SpanRecord
from .text import format_seconds, shorten

QUERY_LIMIT = 60  # characters of a query shown; the full text is in the backend
VALUE_LIMIT = 64
MARK_LIMIT = 120


@dataclass(frozen=True)
class Shown:
    """An attribute the tree shows: its key, a short label and how to print the value."""

    key: str
    label: str
    formatter: Callable[[object], str] = str
    # A route or model already in the span name, an error type already in the error
    # mark: saying it twice is noise.
    redundant_with: Literal["name", "mark", None] = None


def _quoted(value: object) -> str:
    text = shorten(str(value), QUERY_LIMIT)
    return f'"{text}"' if " " in text else text


def _cache_result(value: object) -> str:
    return "hit" if value is True else "miss"


def _seconds(value: object) -> str:
    # No space inside a ``key=value`` pair: "ttfc=310ms" scans as one item.
    return format_seconds(value).replace(" ", "") if isinstance(value, int | float) else str(value)


SHOWN: tuple[Shown, ...] = (
    Shown("http.response.status_code", "status"),
    Shown("http.route", "route", redundant_with="name"),
    Shown("db.system.name", "db"),
    Shown("db.query.summary", "query", _quoted, redundant_with="name"),
    Shown("db.query.text", "query", _quoted),
    Shown("db.response.returned_rows", "rows"),
    Shown("cache.hit", "cache", _cache_result),
    Shown("gen_ai.response.model", "model", redundant_with="name"),
    Shown("gen_ai.usage.input_tokens", "tokens_in"),
    Shown("gen_ai.usage.output_tokens", "tokens_out"),
    Shown("gen_ai.response.time_to_first_chunk", "ttfc", _seconds),
    # The same fact without the gen_ai_latest_experimental opt-in (see _llm/semconv.py).
    Shown("autobot_apm.gen_ai.response.time_to_first_chunk", "ttfc", _seconds),
    Shown("gen_ai.server.time_to_first_token", "ttft", _seconds),
    Shown("error.type", "error", redundant_with="mark"),
)


def error_mark(span: SpanRecord) -> str:
    """``✗`` and the status message (else error.type) for a failed span, else ``""``."""
    if span.status_code != "ERROR":
        return ""
    message = span.status_message or span.attributes.get("error.type") or "error"
    return shorten(f"✗ {message}", MARK_LIMIT)


def details(span: SpanRecord, mark: str) -> Iterator[tuple[str, str]]:
    """(label, value) pairs of the allow-listed attributes ``span`` carries, in table order."""
    labels_done: set[str] = set()
    for shown in SHOWN:
        value = span.attributes.get(shown.key)
        if value is None or shown.label in labels_done:
            continue
        if _is_redundant(shown, str(value), span.name, mark):
            continue
        labels_done.add(shown.label)
        yield shown.label, shorten(shown.formatter(value), VALUE_LIMIT)


def _is_redundant(shown: Shown, value: str, name: str, mark: str) -> bool:
    if shown.redundant_with == "name":
        return value in name
    if shown.redundant_with == "mark":
        return value in mark
    return False
