"""Tests for autobot_apm._privacy.sql_summary: the query summary, operation and collection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._privacy.sql import operation_and_collection, summarize_sql

PROPERTY = settings(max_examples=200, deadline=None)


class TestSummarizeSql:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("SELECT * FROM wuser_table WHERE username = ?", "SELECT wuser_table"),
            (
                "INSERT INTO shipping_details (order_id, address) "
                "SELECT order_id, address FROM orders WHERE order_id = ?",
                "INSERT shipping_details SELECT orders",
            ),
            (
                "SELECT * FROM songs, artists WHERE songs.artist_id == artists.id",
                "SELECT songs artists",
            ),
            (
                "SELECT order_date FROM (SELECT * FROM orders o "
                "JOIN customers c ON o.customer_id = c.customer_id)",
                "SELECT SELECT orders customers",
            ),
            ('SELECT * FROM "song list", `artists`', 'SELECT "song list" `artists`'),
            ("{call some_stored_procedure}", "call some_stored_procedure"),
        ],
    )
    def test_follows_the_semconv_examples(self, query: str, expected: str) -> None:
        """The examples of the semconv section 'Generating a summary of the query'."""
        assert expected == summarize_sql(query)

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("select * from public.users u where u.id = 1", "select public.users"),
            ("UPDATE accounts SET balance = 0 FROM owners WHERE 1 = 1", "UPDATE accounts owners"),
            ("DELETE FROM jobs USING runs WHERE jobs.id = runs.job", "DELETE jobs runs"),
            ("MERGE INTO target t USING source s ON t.id = s.id", "MERGE target source"),
            (
                "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent",
                "SELECT orders SELECT recent",
            ),
            ("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", "INSERT t"),
            ("INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2", "INSERT t"),
            ("INSERT OR REPLACE INTO temp VALUES (1)", "INSERT temp"),
            ("SELECT * FROM t1 FOR UPDATE", "SELECT t1"),
            ("SELECT EXTRACT(YEAR FROM created) FROM events", "SELECT events"),
            ("SELECT * FROM t WHERE a IS DISTINCT FROM b", "SELECT t"),
            ("SELECT * FROM generate_series(1, 3) AS g", "SELECT"),
            ("CREATE TABLE IF NOT EXISTS users (id int)", "CREATE TABLE users"),
            ("create or replace temp view v as select * from t", "create view v select t"),
            ("DROP TABLE IF EXISTS a, b CASCADE", "DROP TABLE a b"),
            ("ALTER TABLE users ADD COLUMN age int", "ALTER TABLE users"),
            ("TRUNCATE orders", "TRUNCATE orders"),
            ("EXEC dbo.refresh @since = '2020'", "EXEC dbo.refresh"),
            ("BEGIN; UPDATE a SET x = 1; COMMIT", "BEGIN UPDATE a COMMIT"),
            ("GRANT SELECT ON t TO bob", "GRANT"),
        ],
    )
    def test_reads_operations_and_targets_in_order(self, query: str, expected: str) -> None:
        """Each operation is followed by the tables it names, aliases and functions left out."""
        assert expected == summarize_sql(query)

    @pytest.mark.parametrize("query", ["", "hello world", "VALUES (1)", "-- only a comment"])
    def test_nothing_sensible_gives_none(self, query: str) -> None:
        """Text that names no known operation has no summary."""
        assert summarize_sql(query) is None

    def test_is_cut_between_words_at_255_characters(self) -> None:
        """A long summary keeps as many whole names as fit in 255 characters."""
        names = [f"table_number_{n}" for n in range(40)]
        summary = summarize_sql("SELECT * FROM " + ", ".join(names)) or ""
        kept = len(summary.split()) - 1
        assert summary == " ".join(["SELECT", *names[:kept]])
        assert len(summary) <= 255 < len(summary) + 1 + len(names[kept])

    @PROPERTY
    @given(st.text(max_size=300))
    def test_any_text_gives_a_short_summary_or_none(self, query: str) -> None:
        """Arbitrary text never raises; a summary never exceeds 255 characters."""
        assert len(summarize_sql(query) or "") <= 255


class TestOperationAndCollection:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("select * from users where id = 1", ("select", "users")),
            ("SELECT * FROM a JOIN b ON a.id = b.id", ("SELECT", "a")),
            ("WITH r AS (SELECT * FROM orders) DELETE FROM jobs", ("DELETE", "jobs")),
            ("SELECT * FROM (SELECT * FROM t) x", ("SELECT", None)),
            ("INSERT INTO archive SELECT * FROM orders", ("INSERT", "archive")),
            ("CREATE INDEX idx ON users (email)", ("CREATE INDEX", "idx")),
            ("nonsense", (None, None)),
        ],
    )
    def test_names_the_main_statement(self, query: str, expected: tuple[str | None, ...]) -> None:
        """The first operation outside parentheses, as written, and its first target."""
        assert expected == operation_and_collection(query)
