"""What a retrieval records: the query, the documents found, their count and best score.

``gen_ai.retrieval.documents`` is a JSON array, ``[{"id": "doc-7", "score": 0.82}]``: ids
and scores always, each document's text (``"content"``) only when content capture is on,
as for the query text (``gen_ai.retrieval.query.text``). Shared by ``track_llm(operation=
"retrieval")`` and ``track_database(..., retrieval=True)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.trace import Span

from .._tracking.attributes import metric_number, safe_str, truncate
from .content import DETAILS_EVENT, ContentCapture
from .usage import fields

MAX_DOCUMENTS = 64  # documents kept on the span: a RAG step asks for a few, not hundreds
MAX_ID_LENGTH = 256
_CONTENT_FIELDS = ("content", "text", "page_content", "document")


def documents(found: object) -> list[dict[str, Any]]:
    """The first documents of ``found`` as ``{"id", "score", "content"}`` dicts.

    Each item may be a mapping or an object (a Qdrant ``ScoredPoint``, a LangChain
    ``Document``) with ``id``, ``score`` and a text field, or an ``(id, score)`` pair.
    Anything unreadable becomes an empty entry; nothing here raises.
    """
    if not isinstance(found, Iterable) or isinstance(found, str | bytes):
        return []
    kept: list[dict[str, Any]] = []
    try:
        iterator = iter(found)
    except Exception:
        return kept
    while len(kept) < MAX_DOCUMENTS:
        try:
            item = next(iterator)
        except Exception:  # StopIteration, or the user's iterator failing: keep what came
            break
        kept.append(_document(item))
    return kept


def _document(item: object) -> dict[str, Any]:
    if type(item) is tuple and len(item) == 2:
        identifier, score, content = item[0], item[1], None
    else:
        data = fields(item)
        identifier, score = data.get("id"), data.get("score")
        content = next((data.get(name) for name in _CONTENT_FIELDS if data.get(name)), None)
    document: dict[str, Any] = {}
    if identifier is not None:
        document["id"] = truncate(safe_str(identifier), MAX_ID_LENGTH)
    number = metric_number(score, floats=True, minimum=None)
    if number is not None:
        document["score"] = float(number)
    if isinstance(content, str):
        document["content"] = content
    return document


def record_retrieval(
    span: Span,
    capture: ContentCapture,
    found: list[dict[str, Any]] | None,
    query: object,
) -> dict[str, Any]:
    """Put the documents and (with capture on) the query on the span or in the details
    event; return the count and best score the documents imply."""
    on_span: dict[str, Any] = {}
    in_event: dict[str, Any] = {}
    if found is not None:
        on_span["gen_ai.retrieval.documents"] = _dump(found, capture if capture.on_span else None)
        in_event["gen_ai.retrieval.documents"] = _dump(found, capture)
    if isinstance(query, str):
        in_event["gen_ai.retrieval.query.text"] = truncate(query, capture.max_length)
        if capture.on_span:
            on_span["gen_ai.retrieval.query.text"] = in_event["gen_ai.retrieval.query.text"]
    span.set_attributes(on_span)
    if capture.as_event and in_event:
        span.add_event(DETAILS_EVENT, in_event)
    return _summary(found)


def _summary(found: list[dict[str, Any]] | None) -> dict[str, Any]:
    if found is None:
        return {}
    scores = [document["score"] for document in found if "score" in document]
    summary: dict[str, Any] = {"count": len(found)}
    if scores:
        summary["best_score"] = max(scores)
    return summary


def _dump(found: list[dict[str, Any]], capture: ContentCapture | None) -> str:
    """The JSON of the documents; their text only when ``capture`` is given."""
    kept = []
    for document in found:
        entry = {key: value for key, value in document.items() if key != "content"}
        if capture is not None and "content" in document:
            entry["content"] = truncate(document["content"], capture.max_length)
        kept.append(entry)
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
