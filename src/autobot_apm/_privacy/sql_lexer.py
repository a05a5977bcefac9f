"""Find the literals and comments of SQL text and hide them: the core of ``sanitize_sql``.

One regex, built once per dialect flag, matches every literal kind by its fixed first
character; :func:`clean` replaces each match, then removes string prefixes, booleans
and the length of ``IN`` lists. Where the pairing of quotes becomes uncertain, nothing
after is kept.
"""

from __future__ import annotations

import re

from .query_text import SCAN_LIMIT, word_set
from .sql_dialect import DIALECTS, FLAT, GENERIC_DOUBLE_QUOTED, MYSQL, NESTED

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


def _literal_pattern(dialect: str) -> re.Pattern[str]:
    """One alternative per literal kind, each opening with one fixed character.

    Fixed first characters let the regex engine skip, in C, every position that cannot
    start a literal; a lookbehind after that character keeps identifiers such as
    ``table1`` intact. Quoted identifiers are matched only to be kept whole.
    """
    double = (
        rf'"(?P<double>{_DQ_STRING_BODY})'
        if dialect in (MYSQL, GENERIC_DOUBLE_QUOTED)
        else r'"(?P<keep>(?:[^"]++|"")*+")|"(?P<hide>[\s\S]*)'
    )
    alternatives = [
        double,
        r"`(?P<keep_backquoted>(?:[^`]++|``)*+`)|`(?P<hide_backquoted>[\s\S]*)",
        *_comment_alternatives(dialect),
        rf"-(?P<minus>\s*{_NUMBER})",
        rf"\+(?P<plus>\s*{_NUMBER})",
        rf"'(?P<single>{_STRING_BODY})",
        r"\$(?P<dollar>(?<![\w$]\$)(?P<tag>(?:[^\W\d]\w*)?)\$[\s\S]*?(?:\$(?P=tag)\$|\Z))",
        r":(?P<keep_bind>(?<![\w\]):]:)\d+)",  # Oracle's :1, but not the 2 of a[1:2]
        rf"\.(?P<fraction>(?<![\w$?)\]]\.)\d{_NUMBER_TAIL})",
    ]
    alternatives += [rf"{d}(?P<number{d}>(?<![\w$?]{d}){_NUMBER_TAIL})" for d in "0123456789"]
    alternatives += [_oracle_quote(letter) for letter in "qQ"]
    return re.compile("|".join(alternatives))


def _comment_alternatives(dialect: str) -> list[str]:
    """Comments as ``dialect`` reads them; an unknown dialect gets every reading at once.

    Under the generic reading a comment whose end depends on the dialect is matched by a
    ``*_check`` group: :func:`_replace_comment` cuts the text when the readings differ.
    """
    if dialect == MYSQL:
        return [
            r"-(?P<comment>-(?=[\s\x00-\x1f]|\Z)[^\n]*)",  # MySQL: `--1` is no comment
            r"#(?P<hash_comment>[^\n]*)",
            r"/(?P<block_comment>\*[\s\S]*?(?:\*/|\Z))",  # MySQL comments do not nest
        ]
    nested = rf"/(?P<{{name}}>{_block_comment(3)}|\*[\s\S]*)"  # deeper nesting: hide the rest
    if dialect == NESTED:
        return [r"-(?P<comment>-[^\n]*)", nested.format(name="block_comment")]
    if dialect == FLAT:
        return [r"-(?P<comment>-[^\n]*)", r"/(?P<block_comment>\*[\s\S]*?(?:\*/|\Z))"]
    return [
        r"-(?P<comment_check>-[^\n]*)",
        # MySQL's `#` comment or another dialect's operator or name: the rest of the
        # line is dropped, and the text cut when it holds a quote either reading pairs.
        r"#(?P<hash_check>[^\n'\"`$]*+(?P<hash_quote>['\"`$])?)",
        nested.format(name="block_check"),
    ]


def _oracle_quote(letter: str) -> str:
    """Oracle's q'[it's]': the quote closes only after the chosen delimiter."""
    group = f"delimiter_{letter}"
    closings = r"\[[\s\S]*?\]'|\{[\s\S]*?\}'|\([\s\S]*?\)'|<[\s\S]*?>'"
    other = rf"(?P<{group}>[^\s\[{{(<])[\s\S]*?(?P={group})'"
    return rf"{letter}(?P<oracle_{letter}>(?<![\w$]{letter})'(?:{closings}|{other}|[\s\S]*))"


_LITERALS = {dialect: _literal_pattern(dialect) for dialect in DIALECTS}
_QUOTES = re.compile(r"['\"`$]")
_CHARSET_PREFIX = re.compile(r"_[A-Za-z]\w*")
_WORD_RUN = re.compile(r"\w*")  # matched on reversed text: the word before a position
_CHARSET_START = re.compile(r"_[A-Za-z]")
_BOOLEAN = re.compile(r"(?<![\w$\"`])(?:TRUE|FALSE)(?![\w$])", re.IGNORECASE)
_IN_LIST = re.compile(r"\( ?\?(?: ?, ?\?)+ ?\)")
# After these, a `-` or `+` in front of a number is a sign, not a subtraction.
_SIGN_AFTER = frozenset("=<>(,[*/%^|&~!+-")
_SIGN_AFTER_WORDS = word_set(
    "SELECT WHERE AND OR NOT THEN ELSE WHEN CASE RETURN BY VALUES LIMIT OFFSET IN IS "
    "BETWEEN LIKE SET ON HAVING INTERVAL DEFAULT AS"
)
_STRING_PREFIXES = word_set("E e N n X x B b U& u&")
_PREFIX_WINDOW = 64  # how far back a string prefix is looked for
_ASCII_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _replace_literal(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    if kind.startswith("keep"):
        return match.group()
    if kind in ("comment", "block_comment", "hash_comment"):
        return " "
    if kind.endswith("_check"):
        return _replace_comment(match, kind)
    if kind in ("single", "double"):
        return _replace_string(match)
    if kind in ("minus", "plus") and not _is_sign(match.string, match.start()):
        text = match.group()
        return text[: len(text) - len(text[1:].lstrip())] + "?"  # keep a subtraction
    return "?"


def _replace_comment(match: re.Match[str], kind: str) -> str:
    """A comment read by an unknown dialect: gone, or a cut where dialects disagree."""
    text, start, end = match.string, match.start(), match.end()
    if kind == "hash_check":
        return " " if match.group("hash_quote") is None else _CUT_MARK
    if kind == "block_check":
        # Where comments do not nest, the first `*/` ends this one: a later end means
        # the text between is code to one dialect and comment to another.
        first_end = text.find("*/", start + 2, end)
        return " " if first_end < 0 or first_end + 2 == end else _CUT_MARK
    # `--` (comment_check): MySQL reads `--x` as two minus signs, other dialects as a
    # comment; only a quote on that line makes the two readings pair quotes differently.
    if text[start + 2 : start + 3].isspace() or not _QUOTES.search(text, start, end):
        return " "
    return _CUT_MARK


def _replace_string(match: re.Match[str]) -> str:
    """A string is ``?``; one whose end depends on the SQL dialect cuts the text.

    A backslash escapes a quote in MySQL and in PostgreSQL E'' strings, but not in
    standard SQL, where 'C:\\' is a whole string. When the two readings end the string
    at different places, every later quote pairs differently: nothing after is kept.
    """
    text, start = match.string, match.start()
    prefix = _string_prefix(text, start)
    if "\\" in match.group() and prefix not in ("E", "e"):
        # The standard reading is read no further than one character past this match:
        # enough to tell whether it ends at the same place, and never the whole text.
        standard = _STANDARD_BODIES[text[start]].match(text, start + 1, match.end() + 1)
        if standard is None or standard.end() != match.end():
            return _CUT_MARK
    return _PREFIX_MARK + "?" if prefix else "?"


def _string_prefix(text: str, quote: int) -> str:
    """``N`` of ``N'abc'`` (also E, X, B, U&, and MySQL's _utf8mb4); else ``""``."""
    if not (text[quote - 1].isalnum() or text[quote - 1] in "_$&"):
        return ""  # the common case, `= 'x'`, decided without a search
    # Walk back over the word: a search for `[\w$&]*\Z` would retry from every start.
    start, low = quote, max(0, quote - _PREFIX_WINDOW)
    while start > low and (text[start - 1].isalnum() or text[start - 1] in "_$&"):
        start -= 1
    prefix = text[start:quote]
    if prefix in _STRING_PREFIXES or _CHARSET_PREFIX.fullmatch(prefix):
        return prefix
    return ""


def _is_sign(text: str, position: int) -> bool:
    before = text[max(0, position - 32) : position].rstrip()
    if not before or before[-1] in _SIGN_AFTER:
        return True
    word = before[len(before.rstrip(_ASCII_LETTERS)) :]
    return bool(word) and word.upper() in _SIGN_AFTER_WORDS


def _after_in(text: str, position: int) -> bool:
    before = text[max(0, position - 4) : position].rstrip()
    return before[-2:].upper() == "IN" and not _is_word_char(before[-3:-2])


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in ("_", "$")


def _remove_prefixes(text: str) -> str:
    r"""Drop the prefix before each prefix mark, and the marks: ``N\x01?`` becomes ``?``.

    Reads each word once, backwards from its mark. A regex such as
    ``(?:[EeNnXxBb]|[Uu]&|_[A-Za-z]\w*)\x01`` gives the same result but retries ``\w*``
    from every ``_`` of a long name: quadratic on ``_a_a_a...`` (issue 12).
    """
    parts = text.split(_PREFIX_MARK)
    for index in range(len(parts) - 1):
        part = parts[index]
        if part.endswith(("U&", "u&")):
            parts[index] = part[:-2]
            continue
        # The word before the mark; marks split the text, so each word is read once.
        run = len(_WORD_RUN.match(part[::-1]).group())  # type: ignore[union-attr]
        word_start = len(part) - run
        charset = _CHARSET_START.search(part, word_start)
        if charset is not None:
            parts[index] = part[: charset.start()]
        elif run and part[-1] in "EeNnXxBb":
            parts[index] = part[:-1]
    return "".join(parts)


def _replace_literals(pattern: re.Pattern[str], text: str) -> str:
    """``pattern.sub(_replace_literal, text)``, stopping at the first cut: nothing after
    a cut is kept, so nothing after it is read (a cut is never a dearer path)."""
    pieces: list[str] = []
    done = 0
    for match in pattern.finditer(text):
        replacement = _replace_literal(match)
        pieces += (text[done : match.start()], replacement)
        done = match.end()
        if replacement == _CUT_MARK:
            return "".join(pieces)
    pieces.append(text[done:])
    return "".join(pieces)


def clean(text: str, dialect: str) -> str:
    """Sanitized ``text``, not yet truncated: literals ``?``, comments gone, IN collapsed."""
    # The marks must mean only what this function put there.
    text = text[:SCAN_LIMIT].replace(_CUT_MARK, " ").replace(_PREFIX_MARK, " ")
    text = _replace_literals(_LITERALS[dialect], text)
    text = text.partition(_CUT_MARK)[0] + ("?" if _CUT_MARK in text else "")
    if _PREFIX_MARK in text:
        text = _remove_prefixes(text)
    upper = text.upper()
    if "TRUE" in upper or "FALSE" in upper:
        text = _BOOLEAN.sub("?", text)
    text = " ".join(text.split())
    if "?" in text:
        text = _IN_LIST.sub(lambda m: "(?)" if _after_in(m.string, m.start()) else m.group(), text)
    return text
