"""Tests for autobot_apm._privacy.redis: Redis command sanitizing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._privacy.sql import sanitize_redis

PROPERTY = settings(max_examples=200, deadline=None)


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


SECRET = "Zq7Xv"


def _quoted(value: str, quote: str) -> str:
    """``value`` quoted as redis-cli reads it: backslashes escape in both quote kinds."""
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


@st.composite
def _command_with_secret_values(draw: st.DrawFn) -> str:
    """A command string whose every value holds SECRET, quoted to confuse a reader."""
    text = st.text(alphabet="ab '\"\\\n", max_size=6)
    value = st.builds(lambda a, b: a + SECRET + b, text, text)
    quote = st.sampled_from(["'", '"'])

    def values(count: int) -> list[str]:
        return [_quoted(draw(value), draw(quote)) for _ in range(count)]

    pairs = draw(st.integers(min_value=1, max_value=4))
    shapes = [
        ["SET", "k", *values(1), "EX", "10"],
        ["MSET", *(word for v in values(pairs) for word in ("k", v))],
        ["HSET", "h", *(word for v in values(pairs) for word in ("f", v))],
        ["AUTH", "user", *values(1)],
        ["EVAL", *values(1), "1", "k", *values(pairs)],
        ["LPUSH", "q", *values(pairs)],
        ["CONFIG", "SET", "requirepass", *values(1)],
    ]
    words = draw(st.sampled_from(shapes))
    words[0] = draw(st.sampled_from([words[0], words[0].lower(), words[0].title()]))
    last = draw(st.sampled_from(["", ' "' + SECRET, " '" + SECRET + "\\"]))
    return " ".join(words) + (last if words[0].upper() in ("LPUSH", "SET") else "")


class TestNeverLeaks:
    @PROPERTY
    @given(_command_with_secret_values())
    def test_no_value_survives_quotes_escapes_or_case(self, command: str) -> None:
        """Values quoted with escaped quotes, backslashes, newlines, or left unterminated,
        in a command of any case, never show; the key names around them do."""
        result = sanitize_redis(command, max_length=100_000)
        assert SECRET not in result
        assert result.split()[0] == command.split()[0]

    @pytest.mark.parametrize(
        ("command", "expected"),
        [
            ("MSET k 'a\\' " + SECRET + "' k2 v2", "MSET k ? k2 ?"),
            ('MSET k "v ' + SECRET, "MSET k ?"),
            ("auth " + SECRET, "auth ?"),
        ],
    )
    def test_escaped_and_unterminated_quotes_keep_pairs_aligned(
        self, command: str, expected: str
    ) -> None:
        """An escaped quote does not end a value; an open quote runs to the end."""
        assert expected == sanitize_redis(command)
