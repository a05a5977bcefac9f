"""Tests for autobot_apm._privacy.sql and _sql_lexer: SQL sanitizing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._privacy import sql as _sql
from autobot_apm._privacy.sql import sanitize_sql, summarize_sql

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
