"""track_database: database client calls (CLIENT span, ``db.client.operation.duration``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from opentelemetry.trace import SpanKind

from ._llm.retrieval import RetrievalOperation
from ._privacy.query_text import SCAN_LIMIT
from ._privacy.sql import operation_and_collection, sanitize_redis, sanitize_sql, summarize_sql
from ._tracking.attributes import OTHER, integer_argument, metric_number, text_argument
from ._tracking.dispatch import target_name
from ._tracking.memo import memoized, plain_key
from ._tracking.options import NO_EXTRAS, ExtraAttributes, MetricValue, extra_attributes, is_bare
from ._tracking.runtime import DB_DURATION_BUCKETS, ROW_BUCKETS, MetricSpec
from ._tracking.tracker import Tracker

__all__ = ["DatabaseOperation", "track_database"]

F = TypeVar("F", bound=Callable[..., Any])

DB_DURATION = MetricSpec(
    "db.client.operation.duration", "histogram", "s",
    "Duration of database client operations.", DB_DURATION_BUCKETS,
)  # fmt: skip
DB_RETURNED_ROWS = MetricSpec(
    "db.client.response.returned_rows", "histogram", "{row}",
    "Rows returned by database operations.", ROW_BUCKETS,
)  # fmt: skip

# Systems whose queries are commands with arguments rather than SQL text.
COMMAND_SYSTEMS = frozenset({"redis", "valkey", "memcached"})
# Database errors carry their server's code under one of these names (DB-API drivers).
_STATUS_CODE_ATTRIBUTES = ("sqlstate", "pgcode", "errno", "code")


class DatabaseOperation(RetrievalOperation):
    """A tracked database call. ``rows(n)`` reports how many rows it returned;
    ``retrieved(count, top_k, best_score, documents=, query=)`` reports a vector search
    (the one shared with LLM handles, see :mod:`autobot_apm._llm.retrieval`): its count
    is also the rows; on a ``retrieval=True`` span it records the GenAI retrieval's names,
    otherwise ``autobot_apm.db.vector.top_k`` and ``autobot_apm.db.vector.best_score``."""

    __slots__ = ("_rows",)

    def _on_start(self) -> None:
        self._rows: int | None = None

    def rows(self, count: int) -> None:
        """Report the number of rows returned (``db.response.returned_rows``)."""
        rows = metric_number(count)  # a non-negative int that OTLP's 64 bits can carry
        if type(rows) is int:
            self._rows = rows
            self.span.set_attribute("db.response.returned_rows", rows)

    def _is_retrieval_span(self) -> bool:
        return getattr(self._tracker, "retrieval", False) is True

    def _on_retrieved_count(self, count: int) -> None:
        self.rows(count)  # a search's results are its rows, on a retrieval span too

    def _on_exception(self, exc: BaseException) -> None:
        super()._on_exception(exc)
        code = next(filter(None, map(_status_code, (_attribute(exc, name) for name in
                                                    _STATUS_CODE_ATTRIBUTES))), None)  # fmt: skip
        if code is not None:
            self.span.set_attribute("db.response.status_code", code)

    def _on_end(self, duration: float) -> None:
        runtime = self._runtime
        if runtime is None:
            return
        runtime.histogram(DB_DURATION).record(duration, self._metric_attributes)
        if self._rows is not None:
            runtime.histogram(DB_RETURNED_ROWS).record(self._rows, self._metric_attributes)
        threshold = runtime.slow_query_threshold
        if duration >= threshold:
            self.span.add_event(
                "autobot_apm.slow_operation",
                {"duration_s": duration, "threshold_s": threshold},
            )


def _attribute(obj: object, name: str) -> object:
    """``obj.name``, None when absent or raising (the user's exception may define
    ``__getattr__``)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _status_code(value: object) -> str | None:
    """A driver's error code (a str or an int, subclasses by their value) as short text."""
    if isinstance(value, str):
        return text_argument(value, 64)
    number = integer_argument(value)
    return None if number is None else str(number)


class DatabaseTracker(Tracker[DatabaseOperation]):
    """What ``track_database(...)`` returns; query parsing happens once, here."""

    operation_class = DatabaseOperation

    def __init__(
        self,
        system: str,
        *,
        operation: str | None = None,
        collection: str | None = None,
        namespace: str | None = None,
        query: str | None = None,
        summary: str | None = None,
        stored_procedure: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        batch_size: int | None = None,
        retrieval: bool = False,
        extras: ExtraAttributes = NO_EXTRAS,
    ) -> None:
        # Any value is accepted at decoration: text, cut to a limit, never raising.
        system = text_argument(system) or "other_sql"
        self.retrieval = retrieval is True
        operation, collection, namespace, summary, stored_procedure, server_address = (
            text_argument(value)
            for value in (operation, collection, namespace, summary, stored_procedure,
                          server_address)
        )  # fmt: skip
        server_port, batch_size = integer_argument(server_port), integer_argument(batch_size)
        # The query as a plain str (bytes decoded, objects rendered), cut where the
        # sanitizer stops reading anyway; a str subclass's methods never run.
        query = text_argument(query, SCAN_LIMIT)
        if query is not None and not _is_command_system(system):
            summary = summary or summarize_sql(query, system=system)
            if _single_target(summary):
                # Semconv: read operation and table from the text only when the query has
                # one of each; otherwise the summary alone names the span.
                guessed_operation, guessed_collection = operation_and_collection(
                    query, system=system
                )
                operation = operation or guessed_operation
                collection = collection or guessed_collection
        metric_attributes = {
            "db.system.name": system,
            "db.operation.name": operation,
            "db.collection.name": collection,
            "db.namespace": namespace,
            "db.query.summary": summary,
            "db.stored_procedure.name": stored_procedure,
            "server.address": server_address,
            "server.port": server_port,
        }
        span_attributes = {
            **metric_attributes,
            "db.query.text": _sanitized(system, query),
            "db.operation.batch.size": batch_size if batch_size and batch_size >= 2 else None,
        }
        name = _span_name(system, summary, operation, collection or stored_procedure,
                          namespace, server_address, server_port)  # fmt: skip
        if self.retrieval:
            # A vector search in a RAG flow, named and described as a GenAI retrieval; the
            # db.* attributes stay, and the duration is still db.client.operation.duration.
            source = collection or namespace
            name = f"retrieval {source}" if source else "retrieval"
            span_attributes.update({
                "gen_ai.operation.name": "retrieval",
                "gen_ai.provider.name": system,
                "gen_ai.data_source.id": source,
            })  # fmt: skip
        super().__init__(
            span_name=name,
            span_kind=SpanKind.CLIENT,
            span_attributes={
                **extras.span, **{k: v for k, v in span_attributes.items() if v is not None}
            },
            metric_attributes={**extras.metric, **metric_attributes},
        )  # fmt: skip


def _single_target(summary: str | None) -> bool:
    return summary is not None and len(summary.split()) == 2


def _sanitized(system: str, query: str | None) -> str | None:
    if query is None:
        return None
    if _is_command_system(system):
        return sanitize_redis(query)
    # The dialect decides what a literal is: MySQL's "..." strings and # comments.
    return sanitize_sql(query, system=system)


def _is_command_system(system: str) -> bool:
    """``Redis`` is ``redis``: a command system read as SQL would show its values."""
    return system.strip().lower() in COMMAND_SYSTEMS


def _span_name(
    system: str,
    summary: str | None,
    operation: str | None,
    target: str | None,
    namespace: str | None,
    address: str | None,
    port: int | None,
) -> str:
    """The semconv rule: summary, else ``{operation} {target}``, else target, else system."""
    if summary:
        return summary
    if target is None and namespace and not _is_command_system(system):
        target = namespace  # a Redis namespace is a number, never a useful name
    if target is None and address:
        target = f"{address}:{port}" if port else address
    if operation:
        return f"{operation} {target}" if target else operation
    return target or system


# track_database's own keyword-only options (``system`` is positional only).
DATABASE_OPTIONS = (
    "collection", "namespace", "query", "summary", "stored_procedure", "server_address",
    "server_port", "batch_size", "retrieval",
)  # fmt: skip


@overload
def track_database(system: F, /) -> F: ...
@overload
def track_database(
    system: str,
    /,
    operation: str | None = None,
    *,
    collection: str | None = None,
    namespace: str | None = None,
    query: str | None = None,
    summary: str | None = None,
    stored_procedure: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    batch_size: int | None = None,
    retrieval: bool = False,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **dotted: object,
) -> DatabaseTracker: ...
def track_database(
    system: Any,
    /,
    operation: str | None = None,
    *,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **options: Any,
) -> Any:
    """Track a database call: a CLIENT span named by the semconv rule and its duration.

    Positionally, ``track_database("redis", "GET")`` names the system and the operation.
    ``system`` is the ``db.system.name`` (``postgresql``, ``mysql``, ``sqlite``,
    ``redis``, ``mongodb``...). When only ``query`` is given, the operation, the table and
    the summary are read from it. ``db.query.text`` is recorded with every literal
    replaced by ``?``. Inside the call, ``op.rows(n)`` reports the rows returned.

    ``retrieval=True`` reports a vector-store search of a RAG flow as a GenAI retrieval:
    span ``retrieval {collection}`` with ``gen_ai.operation.name=retrieval``,
    ``gen_ai.provider.name`` (the system) and ``gen_ai.data_source.id`` (the collection),
    beside the ``db.*`` attributes; ``op.retrieved(documents=..., query=...)`` records
    what was found.

    Extra keywords, as for every tracker: ``attributes={...}`` are span attributes (any
    key); ``metric_attributes={...}`` are low-cardinality labels of the duration and row
    metrics, also set on the span; a keyword with a dot in its name is a span attribute;
    any other keyword is a TypeError here.

    Example::

        with apm.track_database("postgresql", query="SELECT * FROM users WHERE id = %s") as op:
            rows = cursor.execute(...).fetchall()
            op.rows(len(rows))
    """
    if is_bare(system, operation):
        # Bare @track_database: the function's name is all we know of the operation.
        return DatabaseTracker("other_sql", operation=target_name(system) or OTHER)(system)
    if attributes is None and metric_attributes is None:
        key = plain_key(system, operation, options=options)
        if key is not None:  # the with form builds one per pass: build it once
            return _built_database_tracker(key)
    return _database_tracker(system, operation, attributes, metric_attributes, **options)


def _database_tracker(
    system: Any,
    operation: Any,
    attributes: Mapping[str, object] | None = None,
    metric_attributes: Mapping[str, MetricValue] | None = None,
    **options: Any,
) -> DatabaseTracker:
    own = {name: value for name, value in options.items() if name in DATABASE_OPTIONS}
    dotted = {name: value for name, value in options.items() if name not in own}
    extras = extra_attributes(
        "track_database",
        ("operation", *DATABASE_OPTIONS),
        dotted,
        attributes=attributes,
        metric_attributes=metric_attributes,
    )
    return DatabaseTracker(system, operation=operation, extras=extras, **own)


_built_database_tracker = memoized(_database_tracker)
