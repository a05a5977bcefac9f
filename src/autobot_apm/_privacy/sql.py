"""Query text hygiene for database spans: sanitize SQL, summarize it, sanitize Redis commands.

Everything here runs on the hot path of a tracked database call, so it is regex driven,
cached where the same text repeats, and never raises: text it cannot understand yields
something safe (``?`` for anything that might be data), never the raw text. This
module holds the guarded entry points and their caches (the last long text's in
``STATE.caches``); the work is done in
``_sql_lexer`` (literals and comments), ``_sql_summary`` (operations and their
targets) and ``_redis``.

    >>> sanitize_sql("SELECT * FROM users WHERE email = 'bob@example.com' AND id IN (1, 2)")
    'SELECT * FROM users WHERE email = ? AND id IN (?)'
    >>> summarize_sql("INSERT INTO archive SELECT * FROM orders WHERE age > 30")
    'INSERT archive SELECT orders'
    >>> sanitize_redis(["HMSET", "myhash", "field1", "Hello", "field2", "World"])
    'HMSET myhash field1 ? field2 ?'
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from .._sdk.state import STATE, on_reset
from .._tracking.attributes import safe_str
from .._tracking.errors import contained
from .query_text import SCAN_LIMIT, cut_at_word, join_within
from .redis import sanitize_redis
from .sql_dialect import GENERIC, dialect_of
from .sql_lexer import clean
from .sql_summary import read_operations

__all__ = [
    "SUMMARY_MAX_LENGTH",
    "operation_and_collection",
    "sanitize_redis",
    "sanitize_sql",
    "summarize_sql",
]

SUMMARY_MAX_LENGTH = 255
# Queries longer than this are not cached: a cache keeps its keys alive, and one-off
# texts (bulk inserts with inline values) would pin megabytes of memory.
_CACHEABLE_LENGTH = 4096
_CACHE_SIZE = 512


# --- sanitize ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _clean_cached(text: str, dialect: str) -> str:
    return clean(text, dialect)


def _query_text(query: object) -> str:
    """``query`` as text, cut to :data:`SCAN_LIMIT` before anything reads it."""
    return safe_str(query, "")[:SCAN_LIMIT]  # an SQLAlchemy TextClause renders its SQL


def _cleaned(query: object, dialect: str = GENERIC) -> str:
    text = _query_text(query)
    if len(text) <= _CACHEABLE_LENGTH:
        return _clean_cached(text, dialect)
    # The last long text cleaned, and its result. One tracked call reads its query three
    # times (summary, operation and collection, sanitized text): a long text, too big for
    # the cache, is still cleaned only once. One slot holds at most one capped text.
    caches = STATE.caches
    last_text, last_dialect, last_result = caches.sql_cleaned  # one read: thread-safe
    if last_dialect == dialect and last_text == text:
        return last_result
    result = clean(text, dialect)
    caches.sql_cleaned = (text, dialect, result)
    return result


@contained("")
def sanitize_sql(
    query: str,
    max_length: int = 2048,
    *,
    double_quoted_strings: bool = False,
    system: str | None = None,
) -> str:
    """Replace every literal in ``query`` with ``?``, drop comments, collapse ``IN`` lists.

    Identifiers, keywords and placeholders (``?``, ``%s``, ``%(name)s``, ``$1``,
    ``:name``, ``@p1``) are kept; whitespace runs become one space. ``system`` (a
    ``db.system.name``, any case) picks the dialect: MySQL and its kin read ``"..."``
    as a string and ``#`` as a comment; ``double_quoted_strings`` asks for the former
    alone. An unknown system is read by every dialect at once, and the text cut where
    they disagree. The result has at most ``max_length`` characters, cut between tokens.
    """
    return cut_at_word(_cleaned(query, dialect_of(system, double_quoted_strings)), max_length)


# --- summary -------------------------------------------------------------------------------


class QueryAnalysis(NamedTuple):
    """What a query's summary, span name and collection are read from."""

    summary: str | None
    operation: str | None
    collection: str | None


def _analyze(text: str, dialect: str) -> QueryAnalysis:
    # Read from the sanitized text: a literal can never end up in a summary or a name.
    operations = read_operations(_cleaned(text, dialect))
    words = [word for op in operations for word in (op.name, *op.targets)]
    main = next((op for op in operations if op.depth == 0), None)
    main = main or next(iter(operations), None)
    return QueryAnalysis(
        join_within(words, SUMMARY_MAX_LENGTH) or None,
        main.name if main else None,
        main.targets[0] if main and main.targets else None,
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _analyze_cached(text: str, dialect: str) -> QueryAnalysis:
    return _analyze(text, dialect)


def _analysis(query: object, system: str | None) -> QueryAnalysis:
    text, dialect = _query_text(query), dialect_of(system)
    if len(text) <= _CACHEABLE_LENGTH:
        return _analyze_cached(text, dialect)
    caches = STATE.caches  # the last long text analyzed, as _cleaned() keeps its own
    last_text, last_dialect, last_analysis = caches.sql_analyzed
    if last_analysis is not None and last_dialect == dialect and last_text == text:
        return last_analysis
    analysis = _analyze(text, dialect)
    caches.sql_analyzed = (text, dialect, analysis)
    return analysis


def forget_cached_queries() -> None:
    """Empty every cache of this module, as at import (state.reset() calls it)."""
    _clean_cached.cache_clear()
    _analyze_cached.cache_clear()
    STATE.caches.sql_cleaned = ("", "", "")
    STATE.caches.sql_analyzed = ("", "", None)


on_reset(forget_cached_queries)


_NO_SUMMARY: str | None = None
_NO_OPERATION: tuple[str | None, str | None] = (None, None)


@contained(_NO_SUMMARY)
def summarize_sql(query: str, *, system: str | None = None) -> str | None:
    """The semconv ``db.query.summary``: operations and their targets in query order.

    ``SELECT * FROM songs s JOIN artists a ON ...`` gives ``SELECT songs artists``;
    words keep the case they were written in. At most 255 characters, cut between
    words; None when the text names no operation this function knows.
    """
    return _analysis(query, system).summary


@contained(_NO_OPERATION)
def operation_and_collection(
    query: str, *, system: str | None = None
) -> tuple[str | None, str | None]:
    """The main statement's operation (as written) and its first target, for a span name.

    ``WITH recent AS (SELECT ...) DELETE FROM jobs ...`` gives ``("DELETE", "jobs")``;
    ``SELECT * FROM (SELECT ...) t`` gives ``("SELECT", None)``: an anonymous table is
    no target.
    """
    analysis = _analysis(query, system)
    return analysis.operation, analysis.collection
