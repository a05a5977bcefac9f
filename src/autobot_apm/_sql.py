"""Query text hygiene for database spans: sanitize SQL, summarize it, sanitize Redis commands.

Everything here runs on the hot path of a tracked database call, so it is regex driven,
cached where the same text repeats, and never raises: text it cannot understand yields
something safe (``?`` for anything that might be data), never the raw text.

    >>> sanitize_sql("SELECT * FROM users WHERE email = 'bob@example.com' AND id IN (1, 2)")
    'SELECT * FROM users WHERE email = ? AND id IN (?)'
    >>> summarize_sql("INSERT INTO archive SELECT * FROM orders WHERE age > 30")
    'INSERT archive SELECT orders'
    >>> sanitize_redis(["HMSET", "myhash", "field1", "Hello", "field2", "World"])
    'HMSET myhash field1 ? field2 ?'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ._errors import contained

SUMMARY_MAX_LENGTH = 255
# Queries longer than this are not cached: a cache keeps its keys alive, and one-off
# texts (bulk inserts with inline values) would pin megabytes of memory.
_CACHEABLE_LENGTH = 4096
_CACHE_SIZE = 512
# Text beyond this is not read. A literal cut here is unterminated, and so hidden.
_SCAN_LIMIT = 65536


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- sanitize ------------------------------------------------------------------------------

_NUMBER_TAIL = r"\d*(?:\.\d*)?(?:[eE][+-]?\d+)?[\w$]*"  # after the first digit; 0xFF, 1e-3
_NUMBER = rf"(?:\d|\.\d){_NUMBER_TAIL}"
_STRING_BODY = r"(?:[^'\\]++|\\[\s\S]?|'')*+(?:'|\Z)"  # unterminated: runs to the end
_DQ_STRING_BODY = r'(?:[^"\\]++|\\[\s\S]?|"")*+(?:"|\Z)'
_STANDARD_BODIES = {"'": re.compile(r"(?:[^']++|'')*+'"), '"': re.compile(r'(?:[^"]++|"")*+"')}
_PREFIX_MARK = "\x01"  # after a string's prefix (N'', E'', X'', _utf8mb4''), removed later
_CUT_MARK = "\x00"  # where the pairing of quotes becomes uncertain: nothing after it is kept


def _block_comment(depth: int) -> str:
    """A comment nested up to ``depth`` levels (PostgreSQL nests them; MySQL does not)."""
    inner = "" if depth == 0 else "|/" + _block_comment(depth - 1)
    return r"\*(?:[^*/]++|\*(?!/)|/(?!\*)" + inner + r")*+(?:\*/|\Z)"


def _literal_pattern(double_quoted_strings: bool) -> re.Pattern[str]:
    """One alternative per literal kind, each opening with one fixed character.

    Fixed first characters let the regex engine skip, in C, every position that cannot
    start a literal; a lookbehind after that character keeps identifiers such as
    ``table1`` intact. Quoted identifiers are matched only to be kept whole.
    """
    double = (
        rf'"(?P<double>{_DQ_STRING_BODY})'
        if double_quoted_strings
        else r'"(?P<keep>(?:[^"]++|"")*+")|"(?P<hide>[\s\S]*)'
    )
    alternatives = [
        double,
        r"`(?P<keep_backquoted>(?:[^`]++|``)*+`)|`(?P<hide_backquoted>[\s\S]*)",
        r"-(?P<comment>-[^\n]*)",
        # MySQL's `#` comment, taken only at the start of a line, where it cannot be one
        # of PostgreSQL's `#` operators. _clean puts a newline before the text.
        r"\n(?P<hash_comment>[ \t]*#[^\n]*)",
        rf"-(?P<minus>\s*{_NUMBER})",
        rf"\+(?P<plus>\s*{_NUMBER})",
        rf"/(?P<block_comment>{_block_comment(3)}|\*[\s\S]*)",  # deeper nesting: hide the rest
        rf"'(?P<single>{_STRING_BODY})",
        r"\$(?P<dollar>(?<![\w$]\$)(?P<tag>(?:[^\W\d]\w*)?)\$[\s\S]*?(?:\$(?P=tag)\$|\Z))",
        r":(?P<keep_bind>(?<![\w\]):]:)\d+)",  # Oracle's :1, but not the 2 of a[1:2]
        rf"\.(?P<fraction>(?<![\w$?)\]]\.)\d{_NUMBER_TAIL})",
    ]
    alternatives += [rf"{d}(?P<number{d}>(?<![\w$?]{d}){_NUMBER_TAIL})" for d in "0123456789"]
    alternatives += [_oracle_quote(letter) for letter in "qQ"]
    return re.compile("|".join(alternatives))


def _oracle_quote(letter: str) -> str:
    """Oracle's q'[it's]': the quote closes only after the chosen delimiter."""
    group = f"delimiter_{letter}"
    closings = r"\[[\s\S]*?\]'|\{[\s\S]*?\}'|\([\s\S]*?\)'|<[\s\S]*?>'"
    other = rf"(?P<{group}>[^\s\[{{(<])[\s\S]*?(?P={group})'"
    return rf"{letter}(?P<oracle_{letter}>(?<![\w$]{letter})'(?:{closings}|{other}|[\s\S]*))"


_LITERALS = {flag: _literal_pattern(flag) for flag in (False, True)}
_CHARSET_PREFIX = re.compile(r"_[A-Za-z]\w*")
_PREFIX = re.compile(r"(?:[EeNnXxBb]|[Uu]&|_[A-Za-z]\w*)" + _PREFIX_MARK)
_BOOLEAN = re.compile(r"(?<![\w$\"`])(?:TRUE|FALSE)(?![\w$])", re.IGNORECASE)
_IN_LIST = re.compile(r"\( ?\?(?: ?, ?\?)+ ?\)")
# After these, a `-` or `+` in front of a number is a sign, not a subtraction.
_SIGN_AFTER = frozenset("=<>(,[*/%^|&~!+-")
_SIGN_AFTER_WORDS = _words(
    "SELECT WHERE AND OR NOT THEN ELSE WHEN CASE RETURN BY VALUES LIMIT OFFSET IN IS "
    "BETWEEN LIKE SET ON HAVING INTERVAL DEFAULT AS"
)
_STRING_PREFIXES = _words("E e N n X x B b U& u&")
_WORD_AT_END = re.compile(r"[\w$&]*\Z")
_LETTERS_AT_END = re.compile(r"[A-Za-z]+\Z")


def _replace_literal(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    if kind.startswith("keep"):
        return match.group()
    if kind in ("comment", "block_comment", "hash_comment"):
        return " "
    if kind in ("single", "double"):
        return _replace_string(match)
    if kind in ("minus", "plus") and not _is_sign(match.string, match.start()):
        text = match.group()
        return text[: len(text) - len(text[1:].lstrip())] + "?"  # keep a subtraction
    return "?"


def _replace_string(match: re.Match[str]) -> str:
    """A string is ``?``; one whose end depends on the SQL dialect cuts the text.

    A backslash escapes a quote in MySQL and in PostgreSQL E'' strings, but not in
    standard SQL, where 'C:\\' is a whole string. When the two readings end the string
    at different places, every later quote pairs differently: nothing after is kept.
    """
    text, start = match.string, match.start()
    prefix = _string_prefix(text, start)
    if "\\" in match.group() and prefix not in ("E", "e"):
        standard = _STANDARD_BODIES[text[start]].match(text, start + 1)
        if standard is None or standard.end() != match.end():
            return _CUT_MARK
    return _PREFIX_MARK + "?" if prefix else "?"


def _string_prefix(text: str, quote: int) -> str:
    """``N`` of ``N'abc'`` (also E, X, B, U&, and MySQL's _utf8mb4); else ``""``."""
    if not (text[quote - 1].isalnum() or text[quote - 1] in "_$&"):
        return ""  # the common case, `= 'x'`, decided without a search
    word = _WORD_AT_END.search(text, max(0, quote - 64), quote)
    prefix = word.group() if word else ""
    if prefix in _STRING_PREFIXES or _CHARSET_PREFIX.fullmatch(prefix):
        return prefix
    return ""


def _is_sign(text: str, position: int) -> bool:
    before = text[max(0, position - 32) : position].rstrip()
    if not before or before[-1] in _SIGN_AFTER:
        return True
    word = _LETTERS_AT_END.search(before)
    return word is not None and word.group().upper() in _SIGN_AFTER_WORDS


def _after_in(text: str, position: int) -> bool:
    before = text[max(0, position - 4) : position].rstrip()
    return before[-2:].upper() == "IN" and not _is_word_char(before[-3:-2])


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in ("_", "$")


def _clean(text: str, double_quoted_strings: bool) -> str:
    """Sanitized ``text``, not yet truncated: literals ``?``, comments gone, IN collapsed."""
    # The marks must mean only what this function put there.
    text = "\n" + text[:_SCAN_LIMIT].replace(_CUT_MARK, " ").replace(_PREFIX_MARK, " ")
    text = _LITERALS[double_quoted_strings].sub(_replace_literal, text)
    text = text.partition(_CUT_MARK)[0] + ("?" if _CUT_MARK in text else "")
    if _PREFIX_MARK in text:
        text = _PREFIX.sub("", text).replace(_PREFIX_MARK, "")
    upper = text.upper()
    if "TRUE" in upper or "FALSE" in upper:
        text = _BOOLEAN.sub("?", text)
    text = " ".join(text.split())
    if "?" in text:
        text = _IN_LIST.sub(lambda m: "(?)" if _after_in(m.string, m.start()) else m.group(), text)
    return text


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _clean_cached(text: str, double_quoted_strings: bool) -> str:
    return _clean(text, double_quoted_strings)


def _cleaned(query: object, double_quoted_strings: bool = False) -> str:
    text = _as_text(query)
    if len(text) <= _CACHEABLE_LENGTH:
        return _clean_cached(text, double_quoted_strings)
    return _clean(text, double_quoted_strings)


@contained("")
def sanitize_sql(query: str, max_length: int = 2048, *, double_quoted_strings: bool = False) -> str:
    """Replace every literal in ``query`` with ``?``, drop comments, collapse ``IN`` lists.

    Identifiers, keywords and placeholders (``?``, ``%s``, ``%(name)s``, ``$1``,
    ``:name``, ``@p1``) are kept; whitespace runs become one space. Set
    ``double_quoted_strings`` for MySQL and MariaDB, where ``"..."`` is a string, not
    an identifier. The result has at most ``max_length`` characters, cut between tokens.
    """
    return _truncate(_cleaned(query, double_quoted_strings), max_length)


def _as_text(query: object) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes | bytearray):
        return bytes(query).decode("utf-8", "replace")
    try:
        return str(query)  # e.g. an SQLAlchemy TextClause renders its SQL
    except Exception:
        return ""


def _truncate(text: str, max_length: int) -> str:
    """Cut at the last space within ``max_length``; hard cut only inside one long token."""
    if len(text) <= max_length:
        return text
    if max_length <= 0:
        return ""
    cut = text.rfind(" ", 0, max_length + 1)
    return text[:cut].rstrip() if cut > 0 else text[:max_length]


# --- summary -------------------------------------------------------------------------------


@dataclass
class SqlOperation:
    """One operation of a query, the parenthesis depth it sits at, and its targets."""

    name: str
    verb: str
    depth: int
    targets: list[str] = field(default_factory=list)


# Tokens of sanitized text: quoted identifiers, words, and the punctuation that matters.
_SUMMARY_TOKEN = re.compile(r'"(?:[^"]|"")*"|`(?:[^`]|``)*`|[^\W\d][\w$]*|[(),;.{]')
_SEPARATED = tuple((char, f" {char} ") for char in "(),;.{}*=<>!+-/%|&^~?:[]")


def _split_tokens(text: str) -> list[str]:
    """Words and punctuation; splitting on spaces is 3 times faster than the regex."""
    if '"' in text or "`" in text:  # a quoted name may hold spaces and punctuation
        return list(_SUMMARY_TOKEN.findall(text))
    for char, separated in _SEPARATED:
        if char in text:
            text = text.replace(char, separated)
    return text.split()


# Words that end a list of names: never a table name, never an alias.
_CLAUSE_WORDS = _words(
    "SELECT INSERT UPDATE DELETE MERGE FROM WHERE JOIN INNER LEFT RIGHT FULL OUTER CROSS "
    "NATURAL ON USING GROUP ORDER LIMIT OFFSET HAVING UNION INTERSECT EXCEPT MINUS SET "
    "VALUES WINDOW FETCH FOR RETURNING WHEN THEN INTO STRAIGHT_JOIN TABLESAMPLE AND OR "
    "WITH DEFAULT AS LATERAL PARTITION USE FORCE IGNORE"
)
# Words skipped between a verb and its target (`INSERT OR IGNORE INTO t`), before an
# object type (`CREATE OR REPLACE TEMP VIEW v`) or after it (`DROP TABLE IF EXISTS t`).
# Kept per verb, so that a table named `temp` is still read after FROM or INTO.
_INSERT_MODIFIERS = _words("OR REPLACE IGNORE ROLLBACK ABORT FAIL LOW_PRIORITY DELAYED")
_UPDATE_MODIFIERS = _words("ONLY LOW_PRIORITY IGNORE OR REPLACE ROLLBACK ABORT FAIL")
_DEFINITION_MODIFIERS = _words(
    "OR REPLACE TEMP TEMPORARY UNIQUE GLOBAL LOCAL MATERIALIZED UNLOGGED VIRTUAL EXTERNAL"
)
_OBJECT_MODIFIERS = _words("IF NOT EXISTS CONCURRENTLY ONLY")
_NAME_PREFIXES = _words("LATERAL ONLY")
_OBJECT_TYPES = _words(
    "TABLE VIEW INDEX SEQUENCE SCHEMA DATABASE FUNCTION PROCEDURE TRIGGER TYPE USER ROLE"
)
# Statements recorded by their verb alone; the rest of the statement is not read.
_BARE_VERBS = _words("BEGIN START COMMIT ROLLBACK SAVEPOINT RELEASE SET SHOW GRANT REVOKE")
_STATEMENT_OPENERS = _words("; ( ) { EXPLAIN ANALYZE VERBOSE")
_TRIGGERS = _words("( ) ; FROM JOIN STRAIGHT_JOIN USING SELECT")
_WATCHED = _TRIGGERS | _STATEMENT_OPENERS


class _Reader:
    """Reads operations and their targets from sanitized SQL, in query order.

    Deliberately shallow: it tracks parenthesis depth, so that a FROM belongs to the
    SELECT at its own depth (not to ``EXTRACT(YEAR FROM ...)``), and it knows the few
    clause words that name tables. Verbs other than SELECT count only where a statement
    starts, so ``ON CONFLICT DO UPDATE`` or ``FOR UPDATE`` add no operation.
    """

    def __init__(self, text: str) -> None:
        self.tokens = _split_tokens(text)
        # ASCII keeps its length when upper-cased, so it splits into the same tokens.
        uppers = _split_tokens(text.upper()) if text.isascii() else []
        if len(uppers) != len(self.tokens):
            uppers = [token.upper() for token in self.tokens]
        self.uppers = uppers
        self.pos = 0
        self.depth = 0
        self.operations: list[SqlOperation] = []
        self.open: list[SqlOperation] = []
        self.skipping = False

    def read(self) -> tuple[SqlOperation, ...]:
        tokens, uppers = self.tokens, self.uppers
        for pos in self._candidates():
            if pos < self.pos or pos >= len(tokens):
                continue  # already read as part of a list of names
            self.pos = pos + 1
            previous = uppers[pos - 1] if pos else ""
            if uppers[pos] in _TRIGGERS or previous in _STATEMENT_OPENERS or pos == 0:
                self._token(tokens[pos], uppers[pos], previous)
        return tuple(self.operations)

    def _candidates(self) -> list[int]:
        """Where to look: trigger words and what follows a statement opener.

        Most tokens are column names and keywords that change nothing; finding the
        few that matter in one comprehension costs less than visiting each in turn.
        """
        marks = [index for index, upper in enumerate(self.uppers) if upper in _WATCHED]
        return sorted({0, *marks, *(index + 1 for index in marks)})

    def _upper(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.uppers[index] if 0 <= index < len(self.uppers) else ""

    def _token(self, text: str, upper: str, previous: str) -> None:
        if upper == "(":
            self.depth += 1
        elif upper == ")":
            self.depth = max(0, self.depth - 1)
            while self.open and self.open[-1].depth > self.depth:
                self.open.pop()
        elif upper == ";":
            self.depth, self.open, self.skipping = 0, [], False
        elif not self.skipping:
            self._word(text, upper, previous)

    def _word(self, text: str, upper: str, previous: str) -> None:
        current = self.open[-1] if self.open and self.open[-1].depth == self.depth else None
        if upper in ("FROM", "JOIN", "STRAIGHT_JOIN") and current and previous != "DISTINCT":
            self._read_names(current, many=upper == "FROM", aliases=True, calls=False)
        elif upper == "USING" and current and current.verb in ("MERGE", "DELETE"):
            self._read_names(current, many=True, aliases=True, calls=False)
        elif upper == "SELECT" and previous not in ("GRANT", "REVOKE", ","):
            self._start(text, upper)
        elif self.pos == 1 or previous in _STATEMENT_OPENERS:
            self._statement(text, upper)

    def _statement(self, text: str, upper: str) -> None:
        if upper in ("INSERT", "REPLACE", "UPSERT"):
            self._skip(_INSERT_MODIFIERS, finals=("INTO",))
            self._read_names(self._start(text, upper), many=False, aliases=False, calls=True)
        elif upper in ("CALL", "EXEC", "EXECUTE"):
            self._read_names(self._start(text, upper), many=False, aliases=False, calls=True)
        elif upper in ("UPDATE", "MERGE"):
            self._skip(_UPDATE_MODIFIERS, finals=("INTO",))
            self._read_names(self._start(text, upper), many=False, aliases=True, calls=False)
        elif upper == "DELETE":
            self._start(text, upper)
        elif upper in ("CREATE", "DROP", "ALTER", "TRUNCATE"):
            self._definition(text, upper)
        elif upper in _BARE_VERBS:
            self._start(text, upper)
            self.skipping = True

    def _definition(self, text: str, upper: str) -> None:
        """`CREATE TABLE t`: the object type is part of the operation; it matters most."""
        self._skip(_DEFINITION_MODIFIERS)
        if self._upper() in _OBJECT_TYPES:
            operation = self._start(f"{text} {self.tokens[self.pos]}", upper)
            self.pos += 1
        elif upper == "TRUNCATE":
            operation = self._start(text, upper)
        else:
            self._start(text, upper)
            return
        self._skip(_OBJECT_MODIFIERS)
        self._read_names(operation, many=True, aliases=False, calls=True)

    def _start(self, name: str, verb: str) -> SqlOperation:
        operation = SqlOperation(name, verb, self.depth)
        self.operations.append(operation)
        self.open.append(operation)
        return operation

    def _skip(self, words: frozenset[str], finals: tuple[str, ...] = ()) -> None:
        """Skip any of ``words``; a word of ``finals`` is skipped and ends the run."""
        while (upper := self._upper()) in words or upper in finals:
            self.pos += 1
            if upper in finals:
                return

    def _read_names(
        self, operation: SqlOperation, *, many: bool, aliases: bool, calls: bool
    ) -> None:
        """Read `name [AS alias] [, name ...]`; `name(` is a function unless ``calls``."""
        while True:
            self._skip(_NAME_PREFIXES)
            name = self._name()
            if name is not None and (calls or self._upper() != "("):
                operation.targets.append(name)
            if aliases:
                self._skip_alias()
            if not (many and self._upper() == ","):
                return
            self.pos += 1

    def _name(self) -> str | None:
        if not self._is_name(self._upper()):
            return None
        parts = [self.tokens[self.pos]]
        self.pos += 1
        while self._upper() == "." and self._is_name(self._upper(1)):
            parts += [".", self.tokens[self.pos + 1]]
            self.pos += 2
        return "".join(parts)

    def _skip_alias(self) -> None:
        if self._upper() == "AS":
            self.pos += 1
        if self._is_name(self._upper()):
            self.pos += 1

    @staticmethod
    def _is_name(upper: str) -> bool:
        starts_like_name = upper[:1].isalpha() or upper[:1] in ('"', "`", "_")
        return starts_like_name and upper not in _CLAUSE_WORDS


def read_operations(sanitized: str) -> tuple[SqlOperation, ...]:
    """The operations of already sanitized SQL, each with the targets it names."""
    return _Reader(sanitized).read()


class _Analysis(NamedTuple):
    summary: str | None
    operation: str | None
    collection: str | None


def _analyze(text: str) -> _Analysis:
    # Read from the sanitized text: a literal can never end up in a summary or a name.
    operations = read_operations(_cleaned(text))
    words = [word for op in operations for word in (op.name, *op.targets)]
    main = next((op for op in operations if op.depth == 0), None)
    main = main or next(iter(operations), None)
    return _Analysis(
        _join_within(words, SUMMARY_MAX_LENGTH) or None,
        main.name if main else None,
        main.targets[0] if main and main.targets else None,
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _analyze_cached(text: str) -> _Analysis:
    return _analyze(text)


def _analysis(query: object) -> _Analysis:
    text = _as_text(query)
    return _analyze_cached(text) if len(text) <= _CACHEABLE_LENGTH else _analyze(text)


def _join_within(words: list[str], max_length: int) -> str:
    length = -1
    for count, word in enumerate(words):
        length += 1 + len(word)
        if length > max_length:
            return " ".join(words[:count])
    return " ".join(words)


_NO_SUMMARY: str | None = None
_NO_OPERATION: tuple[str | None, str | None] = (None, None)


@contained(_NO_SUMMARY)
def summarize_sql(query: str) -> str | None:
    """The semconv ``db.query.summary``: operations and their targets in query order.

    ``SELECT * FROM songs s JOIN artists a ON ...`` gives ``SELECT songs artists``;
    words keep the case they were written in. At most 255 characters, cut between
    words; None when the text names no operation this function knows.
    """
    return _analysis(query).summary


@contained(_NO_OPERATION)
def operation_and_collection(query: str) -> tuple[str | None, str | None]:
    """The main statement's operation (as written) and its first target, for a span name.

    ``WITH recent AS (SELECT ...) DELETE FROM jobs ...`` gives ``("DELETE", "jobs")``;
    ``SELECT * FROM (SELECT ...) t`` gives ``("SELECT", None)``: an anonymous table is
    no target.
    """
    analysis = _analysis(query)
    return analysis.operation, analysis.collection


# --- redis ---------------------------------------------------------------------------------

_HIDDEN = "?"
_REDIS_ARGUMENT = re.compile(r'"(?:[^"\\]++|\\.)*+"|\'[^\']*+\'|\S+')
_REDIS_MAX_ARGUMENTS = 1024
RedisRule = Callable[[list[object]], list[object]]


def _keep_all(args: list[object]) -> list[object]:
    return args


def _keep_first(args: list[object]) -> list[object]:
    return args[:1] + [_HIDDEN] * (len(args) - 1)


def _keep_names_of_pairs(args: list[object]) -> list[object]:
    return [_HIDDEN if index % 2 else arg for index, arg in enumerate(args)]


def _keep_key_and_fields(args: list[object]) -> list[object]:
    return args[:1] + _keep_names_of_pairs(args[1:])


def _hide_everything(args: list[object]) -> list[object]:
    return [_HIDDEN] if args else []


def _keep_script_keys(args: list[object], *, keep_script: bool) -> list[object]:
    """EVAL script numkeys key... arg...: the keys are kept, the arguments hidden."""
    count = _redis_text(args[1]) if len(args) > 1 else ""
    keys = int(count) if count.isdecimal() and len(count) < 6 else 0
    script = args[:1] if keep_script else [_HIDDEN] * len(args[:1])
    rest = args[2 + keys :]
    return [*script, *args[1 : 2 + keys], *([_HIDDEN] * len(rest))]


def _rules(rule: RedisRule, names: str) -> dict[str, RedisRule]:
    return dict.fromkeys(names.split(), rule)


# Which arguments are names (kept) and which are values (hidden). A command not listed
# keeps its first argument only: a key, or a subcommand as in `CONFIG SET ? ?`.
_REDIS_RULES: dict[str, RedisRule] = {
    **_rules(
        _keep_all,
        "GET DEL UNLINK EXISTS MGET TTL PTTL EXPIRETIME TYPE INCR DECR STRLEN GETDEL "
        "PERSIST TOUCH DUMP WATCH HGET HMGET HDEL HEXISTS HGETALL HKEYS HVALS HLEN HSTRLEN "
        "LLEN LPOP RPOP SCARD SMEMBERS SPOP SINTER SUNION SDIFF ZCARD PFCOUNT XLEN KEYS "
        "SELECT DBSIZE",
    ),
    **_rules(_keep_names_of_pairs, "MSET MSETNX"),
    **_rules(_keep_key_and_fields, "HSET HMSET HSETNX"),
    **_rules(_hide_everything, "AUTH ECHO PING"),
    **_rules(functools.partial(_keep_script_keys, keep_script=False), "EVAL EVAL_RO"),
    **_rules(
        functools.partial(_keep_script_keys, keep_script=True),
        "EVALSHA EVALSHA_RO FCALL FCALL_RO",
    ),
}


@contained("")
def sanitize_redis(command: str | bytes | Sequence[object], max_length: int = 2048) -> str:
    """The Redis CLI form of a command with values hidden: ``HMSET myhash field1 ? field2 ?``.

    Takes one command string or the argument list a client sends. The command name
    keeps its case; ``AUTH`` shows no argument at all, not even how many.
    """
    words = _redis_words(command)
    if not words:
        return ""
    name = _redis_text(words[0])
    rule = _REDIS_RULES.get(name.upper(), _keep_first)
    kept = rule(words[1 : 1 + _REDIS_MAX_ARGUMENTS])
    return _join_within([name, *map(_redis_text, kept)], max_length)


def _redis_words(command: object) -> list[object]:
    if isinstance(command, bytes | bytearray):
        command = bytes(command).decode("utf-8", "replace")
    if isinstance(command, str):
        return list(_REDIS_ARGUMENT.findall(command[:_SCAN_LIMIT]))
    if isinstance(command, Sequence):
        return list(command[: 1 + _REDIS_MAX_ARGUMENTS])
    return []


def _redis_text(word: object) -> str:
    if isinstance(word, str):
        return word
    if isinstance(word, bytes | bytearray | memoryview):
        return bytes(word[:4096]).decode("utf-8", "replace")
    if isinstance(word, int | float):
        return repr(word)
    return _HIDDEN  # an object of unknown shape may render anything: keep it out
