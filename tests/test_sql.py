"""Tests for autobot_apm._sql: SQL sanitizing and summaries, Redis command sanitizing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm import _sql
from autobot_apm._sql import (
    operation_and_collection,
    sanitize_redis,
    sanitize_sql,
    summarize_sql,
)

PROPERTY = settings(max_examples=200, deadline=None)
SECRET = "Zq7Xv"  # a marker that no template word contains


class TestSanitizeSqlLiterals:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("SELECT * FROM t WHERE a = 'bob'", "SELECT * FROM t WHERE a = ?"),
            ("SELECT * FROM t WHERE a = 'O''Brien'", "SELECT * FROM t WHERE a = ?"),
            ("SELECT * FROM t WHERE a = 'it\\'s'", "SELECT * FROM t WHERE a = ?"),
            (
                "SELECT * FROM t WHERE a = E'it\\'s' AND b = 1",
                "SELECT * FROM t WHERE a = ? AND b = ?",
            ),
            ("SELECT * FROM t WHERE a = N'name'", "SELECT * FROM t WHERE a = ?"),
            ("SELECT * FROM t WHERE a = _utf8mb4'x'", "SELECT * FROM t WHERE a = ?"),
            ("SELECT * FROM t WHERE a = U&'d\\0061t'", "SELECT * FROM t WHERE a = ?"),
            ("SELECT $$body$$, $fn$ x $$ y $fn$ FROM t", "SELECT ?, ? FROM t"),
            ("SELECT q'[it's]', Q'{a'b}', q'!c'd!' FROM dual", "SELECT ?, ?, ? FROM dual"),
            ("SELECT 42, 3.14, 1e-3, .5, 6. FROM t", "SELECT ?, ?, ?, ?, ? FROM t"),
            ("SELECT 0xFF, X'FF', B'0101', 0b11 FROM t", "SELECT ?, ?, ?, ? FROM t"),
            ("SELECT TRUE, false, NULL FROM t", "SELECT ?, ?, NULL FROM t"),
            ("SELECT DATE '2020-01-01', INTERVAL '1 day'", "SELECT DATE ?, INTERVAL ?"),
            ("SELECT TIMESTAMP '2020-01-01 10:00:00'", "SELECT TIMESTAMP ?"),
        ],
    )
    def test_replaces_each_kind_of_literal(self, query: str, expected: str) -> None:
        """Strings, numbers, hex, binary, booleans, dates and intervals all become ``?``."""
        assert expected == sanitize_sql(query)

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("SELECT * FROM t WHERE a = -5", "SELECT * FROM t WHERE a = ?"),
            ("SELECT * FROM t WHERE a IN (-1, +2)", "SELECT * FROM t WHERE a IN (?)"),
            ("SELECT -1.5 FROM t", "SELECT ? FROM t"),
            ("SELECT a - 5 FROM t", "SELECT a - ? FROM t"),
            ("SELECT a-5, b+1 FROM t", "SELECT a-?, b+? FROM t"),
        ],
    )
    def test_minus_is_part_of_the_literal_only_as_a_sign(self, query: str, expected: str) -> None:
        """A sign goes with its number; a subtraction keeps its operator."""
        assert expected == sanitize_sql(query)


class TestSanitizeSqlKeeps:
    @pytest.mark.parametrize(
        "query",
        [
            'SELECT "Col 1", "a""b" FROM "public"."users"',
            "SELECT `t2`.`c` FROM `my table`",
            "SELECT table1.col_2, x$1 FROM table1",
            "SELECT * FROM t WHERE a = ? AND b = ?1",
            "SELECT * FROM t WHERE a = %s AND b = %(name)s",
            "SELECT * FROM t WHERE a = $1 AND b = :name AND c = :1 AND d = @p1",
            "SELECT a::int, b #> c FROM t",
            "SELECT a # b FROM t",
        ],
    )
    def test_identifiers_and_placeholders_are_unchanged(self, query: str) -> None:
        """Quoted identifiers, names with digits, placeholders and operators stay as written."""
        assert query == sanitize_sql(query)

    def test_double_quotes_are_strings_when_asked(self) -> None:
        """MySQL's ``"..."`` strings are literals under ``double_quoted_strings``."""
        query = 'SELECT * FROM t WHERE name = "bob"'
        assert "SELECT * FROM t WHERE name = ?" == sanitize_sql(query, double_quoted_strings=True)

    def test_keeps_statements_apart(self) -> None:
        """Several statements are each sanitized, separators kept."""
        query = "INSERT INTO t VALUES (1, 'a'); DELETE FROM u WHERE id = 7"
        assert "INSERT INTO t VALUES (?, ?); DELETE FROM u WHERE id = ?" == sanitize_sql(query)


class TestSanitizeSqlComments:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("SELECT a -- user bob\nFROM t", "SELECT a FROM t"),
            ("SELECT a /* bob */ FROM t", "SELECT a FROM t"),
            ("SELECT a /* x /* nested bob */ still bob */ FROM t", "SELECT a FROM t"),
            ("# bob\nSELECT a FROM t\n  # bob again", "SELECT a FROM t"),
            ("SELECT a/**/FROM t", "SELECT a FROM t"),
        ],
    )
    def test_removes_comments(self, query: str, expected: str) -> None:
        """Comments can carry data, so they are dropped: ``--``, ``/* */``, ``#`` lines."""
        assert expected == sanitize_sql(query)

    def test_hash_inside_a_multiline_string_is_no_comment(self) -> None:
        """A ``#`` line inside a string literal does not shift the pairing of quotes."""
        query = "INSERT INTO posts VALUES ('Title\n# Heading',\n 'bob')"
        assert "INSERT INTO posts VALUES (?, ?)" == sanitize_sql(query)


class TestSanitizeSqlShape:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("SELECT * FROM t WHERE a IN (1, 2, 3)", "SELECT * FROM t WHERE a IN (?)"),
            ("SELECT * FROM t WHERE a NOT IN ( 'x' ,'y' )", "SELECT * FROM t WHERE a NOT IN (?)"),
            ("SELECT * FROM t WHERE a in (?, ?)", "SELECT * FROM t WHERE a in (?)"),
            ("INSERT INTO t VALUES (1, 2)", "INSERT INTO t VALUES (?, ?)"),
            ("SELECT * FROM t WHERE main_in (1, 2)", "SELECT * FROM t WHERE main_in (?, ?)"),
        ],
    )
    def test_collapses_in_lists_only(self, query: str, expected: str) -> None:
        """``IN (?, ?, ?)`` becomes ``IN (?)``; other parenthesized lists keep their length."""
        assert expected == sanitize_sql(query)

    def test_collapses_whitespace(self) -> None:
        """Runs of spaces, tabs and newlines become one space, ends trimmed."""
        assert "SELECT a FROM t" == sanitize_sql("  SELECT\n\ta \r\n FROM   t \n")

    def test_truncates_between_tokens(self) -> None:
        """A long result is cut at a space, never inside a token, within ``max_length``."""
        query = "SELECT " + ", ".join(f"column_{n}" for n in range(100)) + " FROM t"
        result = sanitize_sql(query, max_length=50)
        assert "SELECT column_0, column_1, column_2, column_3," == result

    def test_zero_length_gives_empty_text(self) -> None:
        """A ``max_length`` of 0 leaves nothing."""
        assert "" == sanitize_sql("SELECT 1", max_length=0)

    def test_reads_bytes_and_query_objects(self) -> None:
        """Bytes are decoded; other objects are read through ``str()``."""

        class Clause:
            def __str__(self) -> str:
                return "SELECT 1"

        assert ("SELECT ?", "SELECT ?") == (sanitize_sql(b"SELECT 1"), sanitize_sql(Clause()))  # type: ignore[arg-type]

    def test_object_that_cannot_render_gives_empty_text(self) -> None:
        """An object whose ``__str__`` raises gives an empty text, not an error."""

        class Broken:
            def __str__(self) -> str:
                raise RuntimeError("no")

        assert "" == sanitize_sql(Broken())  # type: ignore[arg-type]


class TestSanitizeSqlNeverLeaks:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("SELECT * FROM t WHERE a = 'bob", "SELECT * FROM t WHERE a = ?"),
            ('SELECT * FROM t WHERE "bob = 1', "SELECT * FROM t WHERE ?"),
            ("SELECT * FROM t WHERE `bob = 1", "SELECT * FROM t WHERE ?"),
            ("SELECT $$bob FROM t", "SELECT ?"),
            ("SELECT a /* bob", "SELECT a"),
            ("SELECT * FROM t WHERE a = 'C:\\' AND b = 'bob'", "SELECT * FROM t WHERE a = ?"),
        ],
    )
    def test_hides_everything_from_an_unclear_quote_on(self, query: str, expected: str) -> None:
        """An unterminated quote, or one whose end depends on the dialect, hides the rest."""
        assert expected == sanitize_sql(query)

    def test_long_queries_are_read_but_not_cached(self) -> None:
        """A one-off huge query is sanitized without pinning memory in the cache."""
        query = "INSERT INTO t VALUES " + ", ".join(f"({n}, 'bob{n}')" for n in range(2000))
        _sql._clean_cached.cache_clear()
        result = sanitize_sql(query)
        assert "INSERT INTO t VALUES (?, ?), (?, ?)" == result[:35]
        assert 0 == _sql._clean_cached.cache_info().currsize

    @PROPERTY
    @given(st.data())
    def test_no_generated_literal_survives(self, data: st.DataObject) -> None:
        """Literals built from hostile text never show up in the sanitized query."""
        literals = [data.draw(LITERAL) for _ in range(4)]
        (a, shown_a), (b, shown_b), (c, shown_c), (d, shown_d) = literals
        query = (
            f"SELECT * FROM t WHERE a = {a} AND b IN ({b}, {c})\n"
            f"-- note {SECRET}\n; UPDATE u /* {SECRET} */ SET c = {d} WHERE e = 1"
        )
        result = sanitize_sql(query, max_length=100_000)
        for shown in (shown_a, shown_b, shown_c, shown_d, SECRET):
            assert shown not in result

    @PROPERTY
    @given(st.data())
    def test_no_generated_literal_reaches_the_summary(self, data: st.DataObject) -> None:
        """The summary is read from sanitized text, so no literal can appear in it."""
        literal, shown = data.draw(LITERAL)
        query = f"SELECT * FROM t WHERE a = {literal} UNION SELECT * FROM u WHERE b = {literal}"
        assert shown not in (summarize_sql(query) or "")

    @PROPERTY
    @given(st.text(max_size=300), st.integers(min_value=-5, max_value=400))
    def test_any_text_gives_bounded_text(self, query: str, max_length: int) -> None:
        """Arbitrary text never raises and never exceeds ``max_length``."""
        assert len(sanitize_sql(query, max_length)) <= max(max_length, 0)


def _string_content() -> st.SearchStrategy[str]:
    tricky = st.sampled_from(["'", "''", "\\", '"', "--", "/*", "*/", "$$", "\n#", ";", "é", "😀"])
    pieces = st.lists(tricky | st.text(max_size=4), max_size=6)
    return st.builds(
        lambda before, after: "".join(before) + SECRET + "".join(after), pieces, pieces
    )


STRING_CONTENT = _string_content()


@st.composite
def _literal(draw: st.DrawFn) -> tuple[str, str]:
    """A literal in one of its SQL spellings, and the text of it that must not show."""
    content = draw(STRING_CONTENT)
    number = draw(st.integers(min_value=10**7, max_value=10**12))
    standard = "'" + content.replace("'", "''") + "'"
    backslashed = "'" + content.replace("\\", "\\\\").replace("'", "\\'") + "'"
    dollar = "$tag$" + content.replace("$", "") + "$tag$"
    oracle = "q'[" + content.replace("]", "") + "]'"
    strings = [standard, backslashed, "E" + backslashed, "N" + standard, "DATE " + standard]
    strings += [dollar, oracle]
    numbers = [str(number), f"-{number}", f"{number}.5", f"{number}e3", f"0x{number:x}"]
    choice = draw(st.sampled_from(strings + numbers))
    if choice in strings:
        return choice, SECRET
    return choice, f"{number:x}" if choice.startswith("0x") else str(number)


LITERAL = _literal()


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


class TestSanitizeRedis:
    @pytest.mark.parametrize(
        ("command", "expected"),
        [
            (
                ["HMSET", "myhash", "field1", "Hello", "field2", "World"],
                "HMSET myhash field1 ? field2 ?",
            ),
            ("SET key value EX 10", "SET key ? ? ?"),
            ("GET key", "GET key"),
            (["MGET", "k1", "k2"], "MGET k1 k2"),
            ("MSET k1 v1 k2 v2", "MSET k1 ? k2 ?"),
            ("AUTH user hunter2", "AUTH ?"),
            ("CONFIG SET requirepass hunter2", "CONFIG SET ? ?"),
            ([b"EVAL", b"return redis.call('get', KEYS[1])", 1, b"k1", b"arg"], "EVAL ? 1 k1 ?"),
            (["EVALSHA", "abc123", "2", "k1", "k2", "arg"], "EVALSHA abc123 2 k1 k2 ?"),
            ("LPUSH queue job-payload", "LPUSH queue ?"),
            ("PING", "PING"),
            ("NEWCMD first second third", "NEWCMD first ? ?"),
            ('SET "my key" "my value"', 'SET "my key" ?'),
            ("", ""),
        ],
    )
    def test_keeps_names_and_hides_values(self, command: object, expected: str) -> None:
        """Command, keys and fields are kept; values become ``?`` (``AUTH``: nothing at all)."""
        assert expected == sanitize_redis(command)  # type: ignore[arg-type]

    def test_keeps_the_command_case(self) -> None:
        """The command name is recorded as written."""
        assert "get key" == sanitize_redis("get key")

    def test_hides_arguments_of_unknown_types(self) -> None:
        """An argument that is neither text, bytes nor a number is not rendered."""
        assert "GET ?" == sanitize_redis(["GET", object()])

    def test_is_cut_between_words(self) -> None:
        """A long command stays within ``max_length``, cut between words."""
        result = sanitize_redis(["DEL", *(f"key{n}" for n in range(1000))], max_length=20)
        assert "DEL key0 key1 key2" == result

    @PROPERTY
    @given(st.lists(st.text(max_size=10) | st.binary(max_size=10) | st.integers(), max_size=20))
    def test_any_arguments_give_bounded_text(self, command: list[object]) -> None:
        """Arbitrary argument lists never raise and stay within the length bound."""
        assert len(sanitize_redis(command, max_length=64)) <= 64
