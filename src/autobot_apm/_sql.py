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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ._errors import contained

SUMMARY_MAX_LENGTH = 255
# Queries longer than this are not cached: the cache keeps its keys alive, and huge
# one-off texts (bulk inserts with inline values) would pin megabytes of memory.
_CACHEABLE_LENGTH = 4096
_CACHE_SIZE = 512

# --- lexer ---------------------------------------------------------------------------------

SPACE, COMMENT, LITERAL, STRING, QUOTED, PLACEHOLDER, WORD, PUNCT = (
    "space", "comment", "literal", "string", "quoted", "placeholder", "word", "punct"
)  # fmt: skip

Token = tuple[str, str]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# One alternative per token kind; `other` guarantees that every position matches.
# Quoted tokens only match their opening here: their bodies are scanned separately
# because the closing rule depends on the quote (see _quoted_end).
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>--[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<string>(?:[EeNnXxBb]|[Uu]&|_[A-Za-z]\w*)?')
  | (?P<dollar>\$(?:[^\W\d]\w*)?\$)
  | (?P<double>")
  | (?P<backtick>`)
  | (?P<placeholder>
        \?\d*
      | %(?:\([^()\s]*\))?[sbt](?!\w)
      | \$\d+
      | (?<![\w\]):]):(?:[^\W\d]\w*|\d+)
      | @@?[^\W\d][\w$@#]*
    )
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[\w$]*)
  | (?P<word>[^\W\d][\w$]*)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Possessive quantifiers: a closing quote is found without backtracking on long text.
_QUOTED_BODY = {
    ("'", True): re.compile(r"(?:[^'\\]++|\\.|'')*+'", re.DOTALL),
    ("'", False): re.compile(r"(?:[^']++|'')*+'"),
    ('"', True): re.compile(r'(?:[^"\\]++|\\.|"")*+"', re.DOTALL),
    ('"', False): re.compile(r'(?:[^"]++|"")*+"'),
    ("`", False): re.compile(r"(?:[^`]++|``)*+`"),
}
_COMMENT_EDGE = re.compile(r"/\*|\*/")


def _quoted_end(text: str, start: int, quote: str, *, escapes: bool = False) -> int | None:
    """End of the quoted token whose body starts at ``start``; None hides the rest.

    A backslash escapes a quote in MySQL and in PostgreSQL E'' strings (``escapes``),
    but not in standard SQL, where 'C:\\' is a complete string. When the two readings
    disagree, the pairing of every later quote is uncertain: nothing after it is kept.
    """
    if quote == "`":
        found = _QUOTED_BODY["`", False].match(text, start)
        return found.end() if found else None
    escaped = _QUOTED_BODY[quote, True].match(text, start)
    if escaped is None or escapes:
        return escaped.end() if escaped else None
    if "\\" in text[start : escaped.end()]:
        standard = _QUOTED_BODY[quote, False].match(text, start)
        if standard is None or standard.end() != escaped.end():
            return None
    return escaped.end()


def _block_comment_end(text: str, start: int) -> int:
    """PostgreSQL nests block comments; honouring nesting only ever removes more text."""
    depth = 1
    for edge in _COMMENT_EDGE.finditer(text, start):
        depth += 1 if edge.group() == "/*" else -1
        if depth == 0:
            return edge.end()
    return len(text)


def _tokens(text: str, double_quoted_strings: bool = False) -> Iterator[Token]:
    """Split SQL into (kind, text) tokens; an unterminated quote swallows the rest."""
    pos, line_start = 0, True
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # unreachable: `other` matches any character
            return
        kind, end = match.lastgroup or "other", match.end()
        if kind in ("string", "dollar", "double", "backtick"):
            closed = _literal_end(text, match, kind)
            if closed is None:
                yield LITERAL, text[pos:]
                return
            end = closed
            yield _quoted_kind(kind, double_quoted_strings), text[pos:end]
        elif kind == "block_comment":
            end = _block_comment_end(text, end)
            yield COMMENT, ""
        elif kind == "line_comment" or (line_start and text[pos] == "#"):
            # MySQL's `#` comment is taken only at the start of a line, where it cannot
            # be one of PostgreSQL's `#` operators.
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            yield COMMENT, ""
        else:
            yield _SIMPLE_KINDS[kind], text[pos:end]
        # Indentation keeps a line's start; any other token ends it.
        line_start = kind == "space" and (line_start or "\n" in text[pos:end])
        pos = end


_SIMPLE_KINDS = {
    "space": SPACE,
    "placeholder": PLACEHOLDER,
    "number": LITERAL,
    "word": WORD,
    "other": PUNCT,
}


def _literal_end(text: str, match: re.Match[str], kind: str) -> int | None:
    if kind == "dollar":
        closing = text.find(match.group(), match.end())
        return None if closing < 0 else closing + len(match.group())
    quote = "`" if kind == "backtick" else text[match.end() - 1]
    return _quoted_end(text, match.end(), quote, escapes=match.group()[0] in "Ee")


def _quoted_kind(kind: str, dq_strings: bool) -> str:
    if kind == "backtick" or (kind == "double" and not dq_strings):
        return QUOTED
    return STRING if kind in ("string", "double") else LITERAL


# --- sanitize ------------------------------------------------------------------------------

_BOOLEANS = frozenset({"TRUE", "FALSE"})
# After these, a `-` or `+` in front of a number is a sign, not a subtraction.
_SIGN_CONTEXT_WORDS = _words(
    "SELECT WHERE AND OR NOT THEN ELSE WHEN CASE RETURN BY VALUES LIMIT OFFSET IN IS "
    "BETWEEN LIKE SET ON HAVING INTERVAL DEFAULT AS"
)
_IN_LIST = re.compile(r"(?<![\w$.])(IN\s*)\(\s*\?(?:\s*,\s*\?)+\s*\)", re.IGNORECASE)


@contained("")
def sanitize_sql(query: str, max_length: int = 2048, *, double_quoted_strings: bool = False) -> str:
    """Replace every literal in ``query`` with ``?``, drop comments, collapse ``IN`` lists.

    Identifiers, keywords and placeholders (``?``, ``%s``, ``%(name)s``, ``$1``,
    ``:name``, ``@p1``) are kept. Set ``double_quoted_strings`` for MySQL and MariaDB,
    where ``"..."`` is a string rather than an identifier. The result is at most
    ``max_length`` characters, cut at a token boundary.
    """
    text = _as_text(query)
    if len(text) <= _CACHEABLE_LENGTH:
        return _sanitize_cached(text, max_length, double_quoted_strings)
    return _sanitize(text, max_length, double_quoted_strings)


def _as_text(query: object) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes | bytearray):
        return bytes(query).decode("utf-8", "replace")
    try:
        return str(query)  # e.g. an SQLAlchemy TextClause renders its SQL
    except Exception:
        return ""


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _sanitize_cached(text: str, max_length: int, double_quoted_strings: bool) -> str:
    return _sanitize(text, max_length, double_quoted_strings)


def _sanitize(text: str, max_length: int, double_quoted_strings: bool) -> str:
    # A literal cut by this limit is unterminated and so hidden: the limit cannot leak.
    scanned = text[: max(16 * max_length, 65536)]
    out: list[str] = []
    previous: list[tuple[Token, int]] = []  # the last two kept tokens and where they went
    for kind, value in _tokens(scanned, double_quoted_strings):
        if kind in (SPACE, COMMENT):
            if out and out[-1] != " ":
                out.append(" ")
            continue
        if kind in (LITERAL, STRING) or (kind == WORD and value.upper() in _BOOLEANS):
            kind, value = LITERAL, "?"
            if _is_sign(previous):
                del out[previous[-1][1] :]
        previous = [*previous[-1:], ((kind, value), len(out))]
        out.append(value)
    return _truncate(_IN_LIST.sub(r"\1(?)", "".join(out).strip()), max_length)


def _is_sign(previous: list[tuple[Token, int]]) -> bool:
    if not previous or previous[-1][0] not in ((PUNCT, "-"), (PUNCT, "+")):
        return False
    if len(previous) < 2:
        return True
    kind, value = previous[0][0]
    if kind == PUNCT:
        return value not in (")", "]")
    return kind == WORD and value.upper() in _SIGN_CONTEXT_WORDS


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
class _Operation:
    """One operation of a query, the paren depth it sits at, and the targets it names."""

    name: str
    verb: str
    depth: int
    targets: list[str] = field(default_factory=list)


# Words that end a name list: they are never a table name or an alias.
_CLAUSE_WORDS = _words(
    "SELECT INSERT UPDATE DELETE MERGE FROM WHERE JOIN INNER LEFT RIGHT FULL OUTER CROSS "
    "NATURAL ON USING GROUP ORDER LIMIT OFFSET HAVING UNION INTERSECT EXCEPT MINUS SET "
    "VALUES WINDOW FETCH FOR RETURNING WHEN THEN INTO STRAIGHT_JOIN TABLESAMPLE AND OR "
    "WITH DEFAULT AS LATERAL PARTITION USE FORCE IGNORE"
)
# Words skipped between a verb and its target (`INSERT OR IGNORE INTO t`), in front of
# an object type (`CREATE OR REPLACE TEMP VIEW v`) or after it (`DROP TABLE IF EXISTS t`).
# Kept per verb, so that a table named `temp` is still read after `FROM` or `INTO`.
_INSERT_MODIFIERS = _words(
    "OR REPLACE IGNORE ROLLBACK ABORT FAIL LOW_PRIORITY DELAYED HIGH_PRIORITY OVERWRITE"
)
_UPDATE_MODIFIERS = _words("ONLY LOW_PRIORITY IGNORE OR REPLACE ROLLBACK ABORT FAIL")
_DEFINITION_MODIFIERS = _words(
    "OR REPLACE TEMP TEMPORARY UNIQUE GLOBAL LOCAL MATERIALIZED UNLOGGED VIRTUAL EXTERNAL RECURSIVE"
)
_OBJECT_MODIFIERS = _words("IF NOT EXISTS CONCURRENTLY ONLY")
_NAME_PREFIXES = _words("LATERAL ONLY")
_OBJECT_TYPES = _words(
    "TABLE VIEW INDEX SEQUENCE SCHEMA DATABASE FUNCTION PROCEDURE TRIGGER TYPE EXTENSION USER ROLE"
)
# Statements recorded by their verb alone; the rest of the statement is not read.
_BARE_VERBS = _words(
    "BEGIN START COMMIT ROLLBACK SAVEPOINT RELEASE SET SHOW GRANT REVOKE VACUUM PRAGMA DESCRIBE USE"
)
_LEADING_WORDS = _words("EXPLAIN ANALYZE VERBOSE")
_STATEMENT_OPENERS = frozenset({";", "(", ")", "{"})


class _Reader:
    """Reads operations and targets from a token list, in query order.

    The reader is deliberately shallow: it tracks parenthesis depth so that a FROM
    belongs to the SELECT at its own depth (not to EXTRACT(YEAR FROM ...)), and it
    only knows the clause words that name tables.
    """

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.operations: list[_Operation] = []
        self.open: list[_Operation] = []
        self.skipping = False

    def read(self) -> list[_Operation]:
        while self.pos < len(self.tokens):
            kind, text = self.tokens[self.pos]
            previous = self._peek(-1)[1].upper()
            self.pos += 1
            if kind == PUNCT:
                self._punct(text)
            elif kind == WORD and not self.skipping:
                self._word(text, text.upper(), previous)
        return self.operations

    def _peek(self, offset: int = 0) -> Token:
        index = self.pos + offset
        return self.tokens[index] if 0 <= index < len(self.tokens) else ("", "")

    def _punct(self, text: str) -> None:
        if text == "(":
            self.depth += 1
        elif text == ")":
            self.depth = max(0, self.depth - 1)
            while self.open and self.open[-1].depth > self.depth:
                self.open.pop()
        elif text == ";":
            self.depth, self.open, self.skipping = 0, [], False

    def _word(self, text: str, upper: str, previous: str) -> None:
        current = self.open[-1] if self.open and self.open[-1].depth == self.depth else None
        if upper in ("FROM", "JOIN", "STRAIGHT_JOIN") and current and previous != "DISTINCT":
            self._read_names(current, many=upper == "FROM", aliases=True, calls=False)
        elif upper == "USING" and current and current.verb in ("MERGE", "DELETE"):
            self._read_names(current, many=True, aliases=True, calls=False)
        elif upper == "SELECT" and previous not in ("GRANT", "REVOKE", ","):
            self._start(text, upper)
        elif previous in _STATEMENT_OPENERS or previous in _LEADING_WORDS or self.pos == 1:
            self._statement(text, upper)

    def _statement(self, text: str, upper: str) -> None:
        if upper in ("INSERT", "REPLACE", "UPSERT"):
            self._skip(_INSERT_MODIFIERS, finals=("INTO", "TABLE"))
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
        """`CREATE TABLE t`: the object type is part of the operation, it matters most."""
        self._skip(_DEFINITION_MODIFIERS)
        kind, object_type = self._peek()
        if kind == WORD and object_type.upper() in _OBJECT_TYPES:
            self.pos += 1
            operation = self._start(f"{text} {object_type}", upper)
        elif upper == "TRUNCATE":
            operation = self._start(text, upper)
        else:
            self._start(text, upper)
            return
        self._skip(_OBJECT_MODIFIERS)
        self._read_names(operation, many=True, aliases=False, calls=True)

    def _start(self, name: str, verb: str) -> _Operation:
        operation = _Operation(name, verb, self.depth)
        self.operations.append(operation)
        self.open.append(operation)
        return operation

    def _skip(self, words: frozenset[str], finals: tuple[str, ...] = ()) -> None:
        """Skip any of ``words``; a word of ``finals`` is skipped and ends the run."""
        while self._peek()[0] == WORD:
            upper = self._peek()[1].upper()
            if upper not in words and upper not in finals:
                return
            self.pos += 1
            if upper in finals:
                return

    def _read_names(self, operation: _Operation, *, many: bool, aliases: bool, calls: bool) -> None:
        """Read `name [AS alias] [, name ...]`; `name(` is a function call unless ``calls``."""
        while True:
            self._skip(_NAME_PREFIXES)
            name = self._name()
            if name is not None and (calls or self._peek() != (PUNCT, "(")):
                operation.targets.append(name)
            if aliases:
                self._skip_alias()
            if not (many and self._peek() == (PUNCT, ",")):
                return
            self.pos += 1

    def _name(self) -> str | None:
        kind, text = self._peek()
        if kind not in (WORD, QUOTED, STRING) or text.upper() in _CLAUSE_WORDS:
            return None
        parts = [text]
        self.pos += 1
        while self._peek() == (PUNCT, ".") and self._peek(1)[0] in (WORD, QUOTED):
            parts += [".", self._peek(1)[1]]
            self.pos += 2
        return "".join(parts)

    def _skip_alias(self) -> None:
        if self._peek()[1].upper() == "AS":
            self.pos += 1
        kind, text = self._peek()
        if kind in (WORD, QUOTED) and text.upper() not in _CLAUSE_WORDS:
            self.pos += 1


def _significant_tokens(text: str) -> list[Token]:
    return [token for token in _tokens(text[:65536]) if token[0] not in (SPACE, COMMENT)]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _operations_cached(text: str) -> tuple[_Operation, ...]:
    return tuple(_Reader(_significant_tokens(text)).read())


def _operations(query: object) -> tuple[_Operation, ...]:
    text = _as_text(query)
    if len(text) <= _CACHEABLE_LENGTH:
        return _operations_cached(text)
    return tuple(_Reader(_significant_tokens(text)).read())


_NO_SUMMARY: str | None = None
_NO_OPERATION: tuple[str | None, str | None] = (None, None)


@contained(_NO_SUMMARY)
def summarize_sql(query: str) -> str | None:
    """The semconv ``db.query.summary``: operations and their targets in query order.

    ``SELECT * FROM songs s JOIN artists a ON ...`` gives ``SELECT songs artists``;
    words keep the case they were written in. At most 255 characters, cut between
    words; None when the text names no operation this function knows.
    """
    words = [word for op in _operations(query) for word in (op.name, *op.targets)]
    return _truncate_words(words, SUMMARY_MAX_LENGTH) or None


def _truncate_words(words: list[str], max_length: int) -> str:
    length = -1
    for count, word in enumerate(words):
        length += 1 + len(word)
        if length > max_length:
            return " ".join(words[:count])
    return " ".join(words)


@contained(_NO_OPERATION)
def operation_and_collection(query: str) -> tuple[str | None, str | None]:
    """The main statement's operation (as written) and its first target, for a span name.

    ``WITH recent AS (SELECT ...) DELETE FROM jobs ...`` gives ``("DELETE", "jobs")``;
    ``SELECT * FROM (SELECT ...) t`` gives ``("SELECT", None)``: an anonymous table is
    no target. Per semconv, prefer ``summarize_sql`` for the span name of SQL text.
    """
    operations = _operations(query)
    main = next((op for op in operations if op.depth == 0), None) or next(iter(operations), None)
    if main is None:
        return None, None
    return main.name, (main.targets[0] if main.targets else None)


# --- redis ---------------------------------------------------------------------------------

_HIDDEN = "?"
_REDIS_ARGUMENT = re.compile(r'"(?:[^"\\]++|\\.)*+"|\'[^\']*+\'|\S+')
_REDIS_MAX_ARGUMENTS = 1024
RedisArgs = list[object]


def _keep_all(args: RedisArgs) -> RedisArgs:
    return args


def _keep_first(args: RedisArgs) -> RedisArgs:
    return args[:1] + [_HIDDEN] * (len(args) - 1)


def _keep_names_of_pairs(args: RedisArgs) -> RedisArgs:
    return [_HIDDEN if index % 2 else arg for index, arg in enumerate(args)]


def _keep_key_and_fields(args: RedisArgs) -> RedisArgs:
    return args[:1] + _keep_names_of_pairs(args[1:])


def _hide_everything(args: RedisArgs) -> RedisArgs:
    return [_HIDDEN] if args else []


def _keep_script_keys(args: RedisArgs, keep_script_name: bool) -> RedisArgs:
    """EVAL script numkeys key... arg...: keys are kept, the script text and args hidden."""
    count = _redis_text(args[1]) if len(args) > 1 else ""
    keys = int(count) if count.isdecimal() and len(count) < 6 else 0
    name = args[:1] if keep_script_name else [_HIDDEN] * len(args[:1])
    rest = args[2 + keys :]
    return [*name, *args[1 : 2 + keys], *([_HIDDEN] * len(rest))]


def _keep_script_name(args: RedisArgs) -> RedisArgs:
    return _keep_script_keys(args, keep_script_name=True)


def _hide_script(args: RedisArgs) -> RedisArgs:
    return _keep_script_keys(args, keep_script_name=False)


def _commands(rule: object, names: str) -> dict[str, object]:
    return dict.fromkeys(names.split(), rule)


# Which arguments are names (kept) and which are values (hidden). Commands not listed
# keep their first argument (a key, or a subcommand as in `CONFIG SET ? ?`) only.
_REDIS_RULES = {
    **_commands(
        _keep_all,
        "GET DEL UNLINK EXISTS MGET TTL PTTL EXPIRETIME TYPE INCR DECR STRLEN GETDEL "
        "PERSIST TOUCH DUMP WATCH HGET HMGET HDEL HEXISTS HGETALL HKEYS HVALS HLEN HSTRLEN "
        "LLEN LPOP RPOP SCARD SMEMBERS SPOP SINTER SUNION SDIFF ZCARD PFCOUNT XLEN KEYS "
        "SELECT DBSIZE",
    ),
    **_commands(_keep_names_of_pairs, "MSET MSETNX"),
    **_commands(_keep_key_and_fields, "HSET HMSET HSETNX"),
    **_commands(_hide_everything, "AUTH ECHO PING"),
    **_commands(_hide_script, "EVAL EVAL_RO"),
    **_commands(_keep_script_name, "EVALSHA EVALSHA_RO FCALL FCALL_RO"),
}


@contained("")
def sanitize_redis(command: str | bytes | Sequence[object], max_length: int = 2048) -> str:
    """The Redis CLI form of a command with values hidden: ``HMSET myhash field1 ? field2 ?``.

    Takes the command as one string or as the argument list a client sends. The command
    name keeps its case; ``AUTH`` shows no argument at all.
    """
    words = _redis_words(command)
    if not words:
        return ""
    name, args = words[0], words[1 : 1 + _REDIS_MAX_ARGUMENTS]
    rule = _REDIS_RULES.get(_redis_text(name).upper(), _keep_first)
    kept = rule(args)  # type: ignore[operator]
    return _truncate_words([_redis_text(name), *map(_redis_text, kept)], max_length)


def _redis_words(command: object) -> list[object]:
    if isinstance(command, bytes | bytearray):
        command = bytes(command).decode("utf-8", "replace")
    if isinstance(command, str):
        return list(_REDIS_ARGUMENT.findall(command))
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
