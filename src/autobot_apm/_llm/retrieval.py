"""What a retrieval records: the query, the documents found, their count and best score.

``gen_ai.retrieval.documents`` is a JSON array, ``[{"id": "doc-7", "score": 0.82}]``: ids
and scores always, each document's text (``"content"``) only when content capture is on,
as for the query text (``gen_ai.retrieval.query.text``).

:class:`RetrievalOperation` holds the one ``retrieved()``, shared by the handles of
``track_llm`` and ``track_database``: on a GenAI retrieval span (any ``track_llm`` span,
``track_database(..., retrieval=True)``) the same facts get the same names:

* results returned: ``autobot_apm.gen_ai.retrieval.result_count``;
* results asked for: ``gen_ai.request.top_k`` (a double, as the conventions type it);
* best score: ``autobot_apm.gen_ai.retrieval.best_score``;
* the documents and the query, as above.

A plain vector search (``track_database`` without ``retrieval=True``) keeps its own names,
``autobot_apm.db.vector.top_k`` (an int) and ``autobot_apm.db.vector.best_score``, and
records no documents or query. A database handle also reports the count as rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.trace import Span

from .._tracking.attributes import MAX_ATTRIBUTE_LENGTH, metric_number, safe_str, truncate
from .._tracking.handle import Operation
from .content import DETAILS_EVENT, MAX_MESSAGES, ContentCapture
from .settings import llm_settings
from .usage import fields

MAX_DOCUMENTS = 64  # documents kept on the span: a RAG step asks for a few, not hundreds
MAX_ID_LENGTH = 256
_CONTENT_FIELDS = ("content", "text", "page_content", "document")

# The facts of a GenAI retrieval (no convention exists but for top_k; the others are ours).
RESULT_COUNT = "autobot_apm.gen_ai.retrieval.result_count"
TOP_K = "gen_ai.request.top_k"
BEST_SCORE = "autobot_apm.gen_ai.retrieval.best_score"
# The same facts on a plain vector search, a database span that is not a retrieval.
VECTOR_TOP_K = "autobot_apm.db.vector.top_k"
VECTOR_BEST_SCORE = "autobot_apm.db.vector.best_score"


class RetrievalOperation(Operation):
    """A handle that can report a retrieval (or a vector search): ``retrieved()``.

    Subclasses say whether their span is a GenAI retrieval (``_is_retrieval_span``) and
    may take the result count for their own record (``_on_retrieved_count``).
    """

    __slots__ = ()

    def retrieved(
        self,
        count: int | None = None,
        top_k: int | None = None,
        best_score: float | None = None,
        *,
        documents: object = None,
        query: str | None = None,
    ) -> None:
        """Report a retrieval: results returned, results asked for, the best score, the
        documents found (ids and scores; their text only with content capture on) and
        the query (only with content capture on). ``count`` and ``best_score`` default
        to what ``documents`` shows. Values that are not usable numbers are dropped."""
        if self._ended:
            return
        retrieval = self._is_retrieval_span()
        if retrieval:
            found = read_documents(documents) if documents is not None else None
            summary = record_retrieval(self.span, self._capture(), found, query)
            count = summary.get("count") if count is None else count
            best_score = summary.get("best_score") if best_score is None else best_score
        attributes: dict[str, Any] = {}
        results = metric_number(count)  # a non-negative int that OTLP's 64 bits can carry
        if type(results) is int:
            self._on_retrieved_count(results)
            if retrieval:
                attributes[RESULT_COUNT] = results
        # A search asks for at least one result; the conventions type top_k as a double.
        top = metric_number(top_k, floats=retrieval, minimum=1)
        if top is not None:
            attributes[TOP_K if retrieval else VECTOR_TOP_K] = float(top) if retrieval else top
        score = metric_number(best_score, floats=True, minimum=None)
        if score is not None:
            attributes[BEST_SCORE if retrieval else VECTOR_BEST_SCORE] = float(score)
        self.span.set_attributes(attributes)

    def _is_retrieval_span(self) -> bool:
        """Whether this span is a GenAI retrieval (else a plain vector search)."""
        return True

    def _on_retrieved_count(self, count: int) -> None:
        """The number of results ``retrieved()`` was told or found."""

    def _capture(self) -> ContentCapture:
        runtime = self._runtime
        return llm_settings(runtime).capture if runtime is not None else ContentCapture()


def read_documents(found: object) -> list[dict[str, Any]]:
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
        content = _first_text(data.get(name) for name in _CONTENT_FIELDS)
    document: dict[str, Any] = {}
    if identifier is not None:
        document["id"] = truncate(safe_str(identifier), MAX_ID_LENGTH)
    number = metric_number(score, floats=True, minimum=None)
    if number is not None:
        document["score"] = float(number)
    if content:
        document["content"] = content
    return document


def _first_text(values: Iterable[object]) -> str | None:
    """The first non-empty text among ``values``, as a plain str; never asks a user
    object for its truth value (a ``__bool__`` or ``__len__`` of theirs may raise)."""
    for value in values:
        text = safe_str(value) if isinstance(value, str) else ""
        if text:
            return text
    return None


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
    """The JSON of the documents; their text only when ``capture`` is given.

    Bounded like any other text attribute (like the messages when their text is in):
    whole documents are kept, in order, while the list fits, so the value stays JSON.
    """
    limit = MAX_ATTRIBUTE_LENGTH if capture is None else MAX_MESSAGES * 2 * MAX_ATTRIBUTE_LENGTH
    parts: list[str] = []
    size = 2  # the brackets
    for document in found:
        entry = {key: value for key, value in document.items() if key != "content"}
        if capture is not None and "content" in document:
            entry["content"] = truncate(document["content"], capture.max_length)
        part = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        size += len(part) + (1 if parts else 0)
        if size > limit:
            break
        parts.append(part)
    return "[" + ",".join(parts) + "]"
