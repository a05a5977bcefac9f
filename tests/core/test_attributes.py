"""Tests for autobot_apm._tracking.attributes: any value becomes a valid attribute value."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._tracking.attributes import (
    MAX_ATTRIBUTE_LENGTH,
    MAX_SEQUENCE_ITEMS,
    UNPRINTABLE,
    coerce,
    coerce_attributes,
    error_type,
    low_cardinality_label,
    safe_str,
)

PROPERTY = settings(max_examples=250, deadline=None)


def is_attribute_value(value: object) -> bool:
    """What OTLP can carry: one primitive, or a tuple of primitives of one type."""
    primitives = (str, bool, int, float)
    if type(value) in primitives:
        return type(value) is not int or -(2**63) <= value < 2**63  # type: ignore[operator]
    if type(value) is tuple:
        kinds = {type(item) for item in value}
        return len(kinds) <= 1 and kinds <= set(primitives) and all(map(is_attribute_value, value))
    return False


class Color(enum.IntEnum):
    RED = 1


class Mood(enum.StrEnum):
    CALM = "calm"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


class FakeClass:
    """An object that lies about its class, as mocks and proxies may."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("no class")

    def __str__(self) -> str:
        return "fake"


class BrokenSequence(Sequence[int]):
    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("no item")

    def __len__(self) -> int:
        raise RuntimeError("no len")

    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("no iter")


ODD_TYPES = [complex, Decimal, Fraction, bytearray, frozenset, range, type, object, slice]


class TestCoercePrimitives:
    @pytest.mark.parametrize("value", ["text", True, False, 0, -(2**63), 2**63 - 1, 1.5, -0.0])
    def test_valid_values_pass_unchanged(self, value: object) -> None:
        """Strings, booleans, 64-bit integers and floats are already valid."""
        assert (value, type(value)) == (coerce(value), type(coerce(value)))

    def test_none_means_drop(self) -> None:
        """None has no attribute value: the caller drops the attribute."""
        assert coerce(None) is None

    def test_non_finite_floats_become_text(self) -> None:
        """Numbers on a span stay finite: NaN and infinities are kept as their text."""
        assert (coerce(float("nan")), coerce(float("-inf"))) == ("nan", "-inf")

    @pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40])
    def test_integers_beyond_64_bits_become_text(self, value: int) -> None:
        """OTLP integers are 64 bits; larger ones are kept exactly, as text."""
        assert str(value) == coerce(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(Color.RED, 1), (Mood.CALM, "calm"), (Fraction(1, 4), 0.25), (Decimal("1.5"), "1.5")],
    )
    def test_number_and_text_subclasses_become_plain(self, value: object, expected: object) -> None:
        """Int and str enums, and any numbers.Real, become the plain type; Decimal text."""
        assert (expected, type(expected)) == (coerce(value), type(coerce(value)))

    def test_truncates_long_text_with_a_marker(self) -> None:
        """Text longer than ``max_length`` is cut so that it ends in ``…`` at that length."""
        assert "abcd…" == coerce("abcdefgh", max_length=5)

    def test_keeps_text_of_exactly_max_length(self) -> None:
        """Text that fits is not marked."""
        assert "x" * MAX_ATTRIBUTE_LENGTH == coerce("x" * MAX_ATTRIBUTE_LENGTH)

    def test_decodes_bytes_with_replacement(self) -> None:
        """Bytes are read as UTF-8; bytes that are not UTF-8 become U+FFFD."""
        assert "caf\ufffd!" == coerce(b"caf\xff!")

    def test_replaces_lone_surrogates(self) -> None:
        """Text that UTF-8 cannot encode would fail a whole export: it is repaired."""
        assert "a?b" == coerce("a\udcffb")


class TestCoerceSequences:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ([1, 2], (1, 2)),
            (("a", "b"), ("a", "b")),
            ([True, False], (True, False)),
            ([1.5, 2.5], (1.5, 2.5)),
            ([1, "a"], ("1", "a")),
            ([1, 2.5], ("1", "2.5")),
            ([True, 1], ("True", "1")),
            ([1, None, 2], (1, 2)),
            ([], ()),
            ({3, 1, 2}, (1, 2, 3)),
            (range(3), (0, 1, 2)),
        ],
    )
    def test_become_tuples_of_one_type(self, value: object, expected: tuple[object, ...]) -> None:
        """Homogeneous items keep their type; mixed items all become text; None is dropped."""
        assert expected == coerce(value)

    def test_are_bounded(self) -> None:
        """Only the first items of a long sequence are kept."""
        assert tuple(range(MAX_SEQUENCE_ITEMS)) == coerce(range(10**9))

    def test_objects_inside_become_their_text(self) -> None:
        """Items that are neither primitives nor containers are rendered with ``str()``."""
        assert ("1", "fake") == coerce([1, FakeClass()])

    def test_nested_containers_become_json(self) -> None:
        """A list holding a dict keeps its structure as compact JSON text."""
        assert '[1,{"a":[2,3]}]' == coerce([1, {"a": [2, 3]}])


class TestCoerceContainers:
    def test_mapping_becomes_json(self) -> None:
        """A dict is rendered as compact JSON, keys as text."""
        assert '{"model":"gpt-4","n":2,"3":null}' == coerce({"model": "gpt-4", "n": 2, 3: None})

    def test_recursive_structures_end(self) -> None:
        """A list that contains itself is rendered to a bounded depth."""
        loop: list[object] = [1]
        loop.append(loop)
        assert [1, [1, [1, [1, ["…", "…"]]]]] == json.loads(coerce(loop))  # type: ignore[arg-type]

    def test_huge_mappings_are_bounded(self) -> None:
        """Rendering stops after a bounded number of values, then the text is cut."""
        value = coerce({str(n): list(range(100)) for n in range(1000)})
        assert len(value) <= MAX_ATTRIBUTE_LENGTH  # type: ignore[arg-type]

    def test_other_objects_become_their_text(self) -> None:
        """An object is recorded as its ``str()``."""
        assert "fake" == coerce(FakeClass())


class TestCoerceHostileValues:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Unprintable(), "<unprintable>"),
            ([Unprintable()], ("<unprintable>",)),
            ({"a": Unprintable()}, '{"a":"<unprintable>"}'),
            (BrokenSequence(), "<unprintable>"),
        ],
    )
    def test_never_raise(self, value: object, expected: object) -> None:
        """Raising ``__str__``, ``__iter__`` or ``__len__`` gives a fixed placeholder."""
        assert expected == coerce(value)

    @PROPERTY
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
            lambda children: st.lists(children) | st.dictionaries(st.text(), children),
            max_leaves=30,
        )
        | st.sampled_from(ODD_TYPES).flatmap(st.from_type)
        | st.sampled_from([Unprintable(), BrokenSequence(), Color.RED, Mood.CALM])
    )
    def test_any_value_gives_a_valid_bounded_value(self, value: object) -> None:
        """Whatever goes in, what comes out is None or a valid value of bounded size."""
        result = coerce(value, max_length=64)
        assert result is None or is_attribute_value(result)
        assert not isinstance(result, str) or len(result) <= 64


class TestCoerceAttributes:
    def test_coerces_values_and_drops_none(self) -> None:
        """Each value is coerced; None values leave no attribute."""
        result = coerce_attributes({"a": [1, "x"], "b": None, "c": b"y"})
        assert {"a": ("1", "x"), "c": "y"} == result

    def test_turns_keys_into_text_and_drops_unusable_ones(self) -> None:
        """Keys become text; empty keys and keys that cannot render are dropped."""
        result = coerce_attributes({1: "one", "": "empty", Unprintable(): "x", "ok": 2})
        assert {"1": "one", "ok": 2} == result

    @PROPERTY
    @given(
        st.dictionaries(
            st.text(max_size=300)
            | st.text(alphabet="k", min_size=250, max_size=260)  # about MAX_KEY_LENGTH
            | st.integers()
            | st.tuples(st.text(max_size=3), st.integers())
            | st.just(UNPRINTABLE),
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text(max_size=80)
            | st.text(alphabet="v", min_size=60, max_size=70)  # about max_length
            | st.binary(max_size=8)
            | st.lists(st.integers(), max_size=3)
            | st.sampled_from([Unprintable(), Color.RED, Mood.CALM, Decimal("1.5")]),
            max_size=8,
        )
    )
    def test_a_plain_dict_gives_what_any_other_mapping_gives(self, attributes: dict) -> None:
        """The written-out path for plain dicts and the general one for mappings agree,
        key for key (long, empty, non-text and tuple keys included)."""
        general = coerce_attributes(MappingProxyType(attributes), max_length=64)
        assert general == coerce_attributes(attributes, max_length=64)
        assert list(general) == list(coerce_attributes(attributes, max_length=64))

    @pytest.mark.parametrize("value", [None, [("a", 1)], "a=1", 5])
    def test_non_mappings_give_nothing(self, value: object) -> None:
        """Anything but a mapping has no attributes."""
        assert {} == coerce_attributes(value)  # type: ignore[arg-type]


class TestLowCardinalityLabel:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("/users/{id}", "/users/{id}"),
            (b"gpt-4", "gpt-4"),
            (200, "200"),
            (None, ""),
            (Unprintable(), "_OTHER"),
            ("x" * 200, "x" * 127 + "…"),
        ],
    )
    def test_gives_short_text(self, value: object, expected: str) -> None:
        """Labels are short text; an unprintable value falls back to ``_OTHER``."""
        assert expected == low_cardinality_label(value)


class TestSafeStr:
    """The one "text of anything" helper: the query, URL and header sanitizers use it too."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (b"caf\xc3\xa9", "café"),
            (bytearray(b"SELECT 1"), "SELECT 1"),
            (memoryview(b"\xff"), "\ufffd"),
            (Mood.CALM, "calm"),
            (12, "12"),
        ],
    )
    def test_gives_plain_text(self, value: object, expected: str) -> None:
        """Bytes-like values are decoded (bad bytes replaced), others through str()."""
        text = safe_str(value)
        assert (expected, str) == (text, type(text))

    def test_unprintable_value_gives_the_fallback(self) -> None:
        """A raising __str__ gives the fallback the caller chose, never the error."""
        assert ("<unprintable>", "") == (safe_str(Unprintable()), safe_str(Unprintable(), ""))


class TestErrorType:
    class NestedError(Exception):
        pass

    @pytest.mark.parametrize(
        ("exc", "expected"),
        [
            (ValueError("x"), "ValueError"),
            (TimeoutError(), "TimeoutError"),
            (json.JSONDecodeError("x", "doc", 0), "json.decoder.JSONDecodeError"),
            (NestedError(), f"{__name__}.TestErrorType.NestedError"),
            (KeyError, "KeyError"),
        ],
    )
    def test_is_the_qualified_class_name(self, exc: BaseException, expected: str) -> None:
        """``module.QualName`` of the exception's class; builtins without a module."""
        assert expected == error_type(exc)
