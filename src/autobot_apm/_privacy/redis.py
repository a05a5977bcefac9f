"""Redis commands in their CLI form with values hidden, for ``db.query.text``.

>>> sanitize_redis(["HMSET", "myhash", "field1", "Hello", "field2", "World"])
'HMSET myhash field1 ? field2 ?'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from .._tracking.errors import contained
from .query_text import SCAN_LIMIT, join_within

_HIDDEN = "?"
# Quoted as redis-cli quotes: a backslash escapes the next character in either quote,
# and a quote left open runs to the end (one value, never words that shift the pairs).
_REDIS_ARGUMENT = re.compile(
    r'"(?:[^"\\]++|\\[\s\S]?)*+(?:"|\Z)|\'(?:[^\'\\]++|\\[\s\S]?)*+(?:\'|\Z)|\S+'
)
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
    return join_within([name, *map(_redis_text, kept)], max_length)


def _redis_words(command: object) -> list[object]:
    if isinstance(command, bytes | bytearray):
        command = bytes(command).decode("utf-8", "replace")
    if isinstance(command, str):
        return list(_REDIS_ARGUMENT.findall(command[:SCAN_LIMIT]))
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
