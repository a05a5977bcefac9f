"""Tests for autobot_apm._privacy.sql and _sql_lexer: SQL sanitizing."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._privacy import redis as _redis
from autobot_apm._privacy import sql as _sql
from autobot_apm._privacy import sql_lexer as _lexer
from autobot_apm._privacy import sql_summary as _summary
from autobot_apm._privacy.query_text import SCAN_LIMIT
from autobot_apm._privacy.sql import sanitize_redis, sanitize_sql, summarize_sql
from autobot_apm.database import DatabaseTracker

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
        ],
    )
    def test_identifiers_and_placeholders_are_unchanged(self, query: str) -> None:
        """Quoted identifiers, names with digits, placeholders and operators stay as written."""
        assert query == sanitize_sql(query)

    @pytest.mark.parametrize(
        ("system", "query"),
        [
            ("postgresql", "SELECT a::int, b #> c, d # e FROM t"),
            ("PostgreSQL", "SELECT a::int, b #> c, d # e FROM t"),
            ("microsoft.sql_server", "SELECT * FROM #temp JOIN ##shared ON a = b"),
            ("oracle.db", "SELECT a#b FROM t"),
        ],
    )
    def test_hash_is_code_where_the_dialect_says_so(self, system: str, query: str) -> None:
        """PostgreSQL's ``#`` operators and SQL Server's ``#temp`` tables are kept."""
        assert query == sanitize_sql(query, system=system)

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
            ("# bob\nSELECT a FROM t\n  # bob again", "SELECT a FROM t"),
            ("SELECT a # bob\nFROM t", "SELECT a FROM t"),
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


class TestDialects:
    @pytest.mark.parametrize(
        "system", ["mysql", "MySQL", "MYSQL", " mariadb ", "MariaDB", "TiDB", "SingleStore"]
    )
    def test_mysql_kin_read_double_quotes_and_hash_in_any_spelling(self, system: str) -> None:
        """``"bob"`` is a string and ``#`` a comment for every MySQL-compatible system."""
        query = "SELECT a FROM t # it's\nWHERE b = \"bob\" AND c = 'carol'"
        assert "SELECT a FROM t WHERE b = ? AND c = ?" == sanitize_sql(query, system=system)

    def test_a_hash_comment_cannot_hide_a_quote(self) -> None:
        """The issue's case: ``# it's`` pairs no quote, so 'secret' is still a literal."""
        query = "SELECT a FROM t # it's\nWHERE b = 'secret'"
        for system in ("mysql", None, "other_sql"):
            assert "secret" not in sanitize_sql(query, system=system)

    @pytest.mark.parametrize(
        ("system", "expected"),
        [("postgresql", "SELECT a FROM t"), ("mysql", "SELECT a still bob */ FROM t")],
    )
    def test_block_comments_nest_only_where_the_dialect_nests(
        self, system: str, expected: str
    ) -> None:
        """PostgreSQL nests ``/* */``; MySQL ends a comment at its first ``*/``."""
        query = "SELECT a /* x /* nested bob */ still bob */ FROM t"
        assert expected == sanitize_sql(query, system=system)

    @pytest.mark.parametrize(
        "query",
        [
            "SELECT a /* /* */ 'x */ b' FROM t WHERE c = 'bob'",  # MySQL: 'x */ b' is a string
            "SELECT a--'\nbob' FROM t",  # MySQL: `--'` is two minus signs and a string
            "SELECT a # 'x\nbob' FROM t",  # PostgreSQL: # is an operator before a string
        ],
    )
    def test_unknown_dialect_hides_what_dialects_disagree_on(self, query: str) -> None:
        """Without a known system, text read differently by two dialects is cut."""
        assert "bob" not in sanitize_sql(query)
        assert "bob" not in sanitize_sql(query, system="other_sql")

    def test_command_systems_are_recognized_in_any_case(self) -> None:
        """``Redis`` is Redis: its values are hidden as for ``redis``."""
        tracker = DatabaseTracker("Redis", query="AUTH hunter2")
        assert "hunter2" not in str(tracker.span_attributes)

    @PROPERTY
    @given(st.data())
    def test_no_literal_survives_the_comments_of_its_dialect(self, data: st.DataObject) -> None:
        """In text valid in one dialect, every comment kind that dialect has, holding any
        quote, before and after a marker literal: the marker never shows, neither when
        the system is named nor when it is unknown."""
        system = data.draw(st.sampled_from(sorted(DIALECT_TEXT)))
        comment, literal = DIALECT_TEXT[system]
        pieces = data.draw(st.lists(st.one_of(comment, literal), min_size=1, max_size=8))
        query = "SELECT a FROM t WHERE b = " + data.draw(literal) + " ".join(pieces)
        # Unknown systems read "..." as a name unless told, the one thing they cannot guess.
        double = system == "mysql"
        for named in (system, system.upper(), None):
            result = sanitize_sql(query, 100_000, system=named, double_quoted_strings=double)
            assert SECRET not in result
            assert SECRET not in (summarize_sql(query, system=named) or "")


def _dialect_text() -> dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]]:
    """Per system: (a comment it accepts, a literal it reads) holding quotes of all kinds."""
    noise = st.text(alphabet="'\"`$\\#-ab ", max_size=8)
    words = st.text(alphabet="'\"`$#-ab \n", max_size=8)  # no `*` or `/`: no comment ends
    line = noise.map(lambda t: t.replace("\n", ""))
    secret = st.builds(lambda a, b: a + SECRET + b, noise, noise)
    backslashed = secret.map(lambda t: t.replace("\\", "\\\\"))
    mysql_single = backslashed.map(lambda t: "'" + t.replace("'", "\\'") + "'")
    mysql_double = backslashed.map(lambda t: '"' + t.replace('"', '\\"') + '"')
    standard = secret.map(lambda t: " '" + t.replace("'", "''") + "'")
    dollar = secret.map(lambda t: " $q$" + t.replace("$", "") + "$q$")
    nested = st.builds(lambda a, b, c: f"/* {a} /* {b} */ {c} */", words, words, words)
    return {
        "mysql": (
            st.one_of(
                line.map(lambda t: "-- " + t + "\n"),
                line.map(lambda t: "#" + t + "\n"),
                words.map(lambda t: "/*" + t + "*/"),
            ),
            st.one_of(mysql_single, mysql_double),
        ),
        "postgresql": (
            st.one_of(line.map(lambda t: "--" + t + "\n"), nested),
            st.one_of(standard, dollar),
        ),
        "sqlite": (
            st.one_of(line.map(lambda t: "--" + t + "\n"), words.map(lambda t: "/*" + t + "*/")),
            standard,
        ),
    }


DIALECT_TEXT = _dialect_text()


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


# --- linear time (issue 12) ------------------------------------------------------------------
#
# Nothing here is timed. Work is counted: every Python function call and every C call
# (``sys.setprofile``), plus the characters each regex call is allowed to read. A regex
# run over the whole text is allowed only for a pattern vetted below as unable to retry
# a long run from every start; the old ``_PREFIX`` regex, which did exactly that on
# ``_a_a_a...`` (33 s for 64 KB), fails the vetting.

_SCANS = ("sub", "subn", "search", "findall", "finditer", "split")
_MODULES = (_lexer, _summary, _redis)


def _vetted() -> set[re.Pattern[str]]:
    """Whole-text regexes whose every repeat is possessive, lazy up to a fixed end, or
    stops at a character class that cannot restart a match inside the run it read."""
    return {
        *_lexer._LITERALS.values(),
        _lexer._BOOLEAN,
        _lexer._IN_LIST,
        _lexer._QUOTES,
        *([_lexer._CHARSET_START] if hasattr(_lexer, "_CHARSET_START") else []),
        _summary._SUMMARY_TOKEN,
        _redis._REDIS_ARGUMENT,
    }


class _CountingPattern:
    """A compiled pattern that charges each call the length of text it may read."""

    def __init__(self, pattern: re.Pattern[str], work: _Work) -> None:
        self._pattern, self._work = pattern, work

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._pattern, name)
        if not callable(method):
            return method

        def counted(*args: Any) -> Any:
            if name in ("sub", "subn"):  # sub(repl, string)
                region = len(args[1])
            else:  # search(string, pos=0, endpos=len(string)) and the like
                text, pos, endpos = (*args, 0, None)[:3] if len(args) < 3 else args[:3]
                end = len(text) if endpos is None else min(endpos, len(text))
                region = max(0, end - pos)
            self._work.regex_chars += region
            if name in _SCANS and region > 64 and self._pattern not in self._work.vetted:
                self._work.unvetted.append(self._pattern.pattern)
            return method(*args)

        return counted


class _Work:
    def __init__(self) -> None:
        self.calls = 0
        self.regex_chars = 0
        self.unvetted: list[str] = []
        self.vetted = _vetted()

    def total(self) -> int:
        return self.calls + self.regex_chars


def _work_of(run: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> _Work:
    """The work ``run()`` does, with every sanitizer cache cleared first."""
    work = _Work()
    with monkeypatch.context() as patch:
        for module in _MODULES:
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern):
                    patch.setattr(module, name, _CountingPattern(value, work))
        literals = {flag: _CountingPattern(p, work) for flag, p in _lexer._LITERALS.items()}
        patch.setattr(_lexer, "_LITERALS", literals)
        bodies = {quote: _CountingPattern(p, work) for quote, p in _STANDARD_BODIES.items()}
        patch.setattr(_lexer, "_STANDARD_BODIES", bodies)
        _sql.forget_cached_queries()

        def count(frame: object, event: str, arg: object) -> None:
            if event in ("call", "c_call"):
                work.calls += 1

        sys.setprofile(count)
        try:
            run()
        finally:
            sys.setprofile(None)
    return work


_STANDARD_BODIES = dict(_lexer._STANDARD_BODIES)

# Each builds a worst case of about ``n`` characters; its cost must be that of text.
WORST_CASES: dict[str, Callable[[int], str]] = {
    "underscore names": lambda n: "SELECT " + "_a" * (n // 2) + " FROM t WHERE x = N'y'",
    "one long name": lambda n: "SELECT " + "a" * n + "'x' FROM t",
    "prefixed strings": lambda n: "SELECT " + "_a'x'" * (n // 5),
    "names before strings": lambda n: ("a" * 60 + "'x'") * (n // 63),
    "nested quotes": lambda n: "SELECT '" + "''\"`" * (n // 4),
    "unterminated": lambda n: "SELECT \"a 'b `c $$d /*e " * (n // 24),
    "backslashes": lambda n: "SELECT 'a\\'b" + "\\'" * (n // 2),
    "backslashed strings": lambda n: "SELECT " + "'a\\''x'" * (n // 7),
    "comments": lambda n: "SELECT a /* b */ -- c\n" * (n // 22),
    "hash comments": lambda n: "SELECT a # b\n" * (n // 13),
    "hashes on one line": lambda n: "SELECT a " + "#" * n,
    "hash then quote": lambda n: "SELECT a # " + "b" * n + "'",
    "dash comments with quotes": lambda n: "SELECT a--'b\n" * (n // 13),
    "flat comment openers": lambda n: "SELECT " + "/*" * (n // 2),
    "nested comment closers": lambda n: "SELECT /* /* " + "*/" * (n // 2),
    "deep comments": lambda n: "SELECT /*" * (n // 9),
    "digits": lambda n: "SELECT " + "1" * n + " FROM t",
    "signed numbers": lambda n: "SELECT " + ("a" * 30 + " -1 ") * (n // 35),
    "dollar quotes": lambda n: "SELECT $a$" + "$a" * (n // 2),
    "dollar tags": lambda n: "SELECT " + "$" + "a" * n + " x",
    "spaces then minus": lambda n: "SELECT -" + " " * n + "x",
    "in lists": lambda n: "SELECT * FROM t WHERE a IN (" + "1," * (n // 2),
    "oracle quotes": lambda n: "SELECT q'[" + "x]" * (n // 2),
    "redis": lambda n: 'SET k "' + 'a \\"' * (n // 4),
    "redis single quotes": lambda n: "SET k '" + "a \\'" * (n // 4),
    "redis backslashes": lambda n: 'SET k "' + "\\" * n,
}


def _sanitize_all(text: str) -> None:
    sanitize_sql(text, max_length=100_000)
    sanitize_sql(text, max_length=100_000, double_quoted_strings=True)
    for system in ("mysql", "postgresql", "sqlite"):
        sanitize_sql(text, max_length=100_000, system=system)
        summarize_sql(text, system=system)
    summarize_sql(text)
    _sql.operation_and_collection(text)
    sanitize_redis(text)


class TestLinearTime:
    @pytest.mark.parametrize("name", sorted(WORST_CASES))
    def test_work_grows_linearly(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Doubling a worst case at most doubles the work (3 allows for set-up)."""
        make = WORST_CASES[name]
        small = _work_of(lambda: _sanitize_all(make(4000)), monkeypatch)
        large = _work_of(lambda: _sanitize_all(make(8000)), monkeypatch)
        assert [] == small.unvetted + large.unvetted, "a whole-text regex nobody vetted"
        assert large.total() < 3 * small.total()

    @pytest.mark.parametrize("name", sorted(WORST_CASES))
    def test_worst_case_costs_what_text_costs(
        self, name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A worst case does no more than 5 times the work of a plain query of its length."""
        text = WORST_CASES[name](8000)
        plain = ("SELECT a, b FROM t WHERE c = 'x' AND d = 12 " * len(text))[: len(text)]
        worst = _work_of(lambda: _sanitize_all(text), monkeypatch)
        ordinary = _work_of(lambda: _sanitize_all(plain), monkeypatch)
        assert worst.total() < 5 * ordinary.total()

    def test_input_is_capped_before_it_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Text past SCAN_LIMIT is never handed to a regex: 10 MB cost what 64 KB cost."""
        capped = _work_of(lambda: _sanitize_all("SELECT " + "_a" * SCAN_LIMIT), monkeypatch)
        huge = _work_of(lambda: _sanitize_all("SELECT " + "_a" * 5_000_000), monkeypatch)
        assert huge.total() < capped.total() * 1.01 + 100

    def test_a_long_query_is_cleaned_once_per_tracked_call(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Summary, span name and query text of one call share one sanitizing pass."""
        cleaned: list[str] = []
        real_clean = _sql.clean

        def clean(text: str, double_quoted_strings: bool) -> str:
            cleaned.append(text)
            return real_clean(text, double_quoted_strings)

        monkeypatch.setattr(_sql, "clean", clean)
        query = "SELECT * FROM orders WHERE note = 'x' AND id IN (" + "1, " * 3000 + "2)"
        DatabaseTracker("postgresql", query=query)
        assert 1 == len(cleaned)


class TestWorstCasesNeverLeak:
    @PROPERTY
    @given(st.data())
    def test_no_secret_survives_adversarial_text(self, data: st.DataObject) -> None:
        """Nested, unterminated and commented literals around SECRETX never show it."""
        pieces = data.draw(st.lists(ADVERSARIAL_PIECE, min_size=1, max_size=12))
        last = data.draw(UNTERMINATED_PIECE)  # only last: later quotes would close it
        query = "SELECT * FROM t WHERE a = " + " ".join(pieces) + " " + last
        for double in (False, True):
            result = sanitize_sql(query, max_length=100_000, double_quoted_strings=double)
            assert "SECRETX" not in result
        assert "SECRETX" not in (summarize_sql(query) or "")


def _adversarial_piece() -> st.SearchStrategy[str]:
    """A literal holding SECRETX, written to confuse a reader: nested quotes, comments,
    long names and digit runs around it, or left unterminated."""
    filler = st.sampled_from(
        ["'", "''", '"', "`", "\\", "\\'", "--", "/*", "*/", "$$", "$a$", "\n", "#", "_a" * 40]
    )
    inside = st.lists(filler | st.text(alphabet="ab_1 ", max_size=6), max_size=5).map("".join)
    secret = st.builds(lambda a, b: a + "SECRETX" + b, inside, inside)
    around = st.sampled_from(["", " ", "_a" * 50, "x" * 70, "1" * 40, "N", "_utf8", "-"])
    standard = secret.map(lambda s: "'" + s.replace("'", "''") + "'")
    backslashed = secret.map(lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'")
    # After a name, `$q$` would be part of it (`a$q$` is a PostgreSQL identifier).
    dollar = secret.map(lambda s: " $q$" + s.replace("$", "") + "$q$")
    block = secret.map(lambda s: "/* /* " + s.replace("*", "") + " */ */")
    line = secret.map(lambda s: "-- " + s.replace("\n", "") + "\n")
    literal = st.one_of(standard, backslashed, dollar, block, line)
    return st.builds(lambda a, lit, b: a + lit + b, around, literal, around)


def _unterminated_piece() -> st.SearchStrategy[str]:
    """Nothing, or SECRETX inside a quote, dollar quote or comment that never closes."""
    secret = st.text(alphabet="ab_1 \\\n", max_size=8).map(lambda s: s + "SECRETX")
    openers = st.sampled_from(["'", '"', "`", "$q$", "/* /*", "/*", "q'[", "E'"])
    return st.just("") | st.builds(lambda o, s: o + s, openers, secret)


ADVERSARIAL_PIECE = _adversarial_piece()
UNTERMINATED_PIECE = _unterminated_piece()
