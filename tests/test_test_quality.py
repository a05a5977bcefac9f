"""The test suite's own rules, read from its source: every test checks something, no
assertion is true whatever the code does, and none bounds an elapsed time.

A test "checks something" when its body (nested functions included) has an ``assert``,
a ``pytest.raises`` or ``pytest.warns``, or calls a helper whose name starts with
``assert``, ``check`` or ``expect`` (such helpers assert for it). A timing assertion
orders a duration, an elapsed time or a memory size against a number: durations are
checked on the fake clock (``autobot_apm.testing.fake_clock``), work is counted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
CHECKING_HELPER = re.compile(r"_*(assert|check|expect)")
# A name that holds a time or a memory size measured while the test ran.
MEASURED = re.compile(
    r"duration|elapsed|perf_counter|monotonic|started|start_time|end_time|time_to|"
    r"per_second|latency|took|rss|mib"
)
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
Function = ast.FunctionDef | ast.AsyncFunctionDef

# "path::qualified name" of a test allowed to check nothing, with the reason. Keep short.
ALLOWED_WITHOUT_A_CHECK: dict[str, str] = {}
# "path::qualified name" of a test allowed one timing assertion, with the reason.
ALLOWED_TIMING: dict[str, str] = {}


def each_test(tree: ast.Module) -> Iterator[tuple[str, Function]]:
    """(qualified name, node) of each test function, at module level or in a class."""
    for node in tree.body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
        if prefix and not node.name.startswith("Test"):
            continue
        for member in members:
            if isinstance(member, Function) and member.name.startswith("test"):
                yield prefix + member.name, member


def _called_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def checks_something(function: ast.AST) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in ("raises", "warns") or CHECKING_HELPER.match(name):
                return True
    return False


def always_true(test: ast.expr) -> bool:
    """An assertion that holds whatever the code under test does."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        same = ast.dump(test.left) == ast.dump(test.comparators[0])
        return same and isinstance(test.ops[0], (ast.Eq, ast.Is, ast.LtE, ast.GtE))
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        return any(isinstance(v, ast.Constant) and bool(v.value) for v in test.values)
    return False


def bounds_a_measurement(test: ast.expr) -> bool:
    """An ordering of something measured (a duration, a memory size) against a number."""
    for node in ast.walk(test):
        if not isinstance(node, ast.Compare) or not isinstance(node.ops[0], ORDERING):
            continue
        operands = [node.left, *node.comparators]
        measured = any(_mentions_a_measurement(operand) for operand in operands)
        if measured and any(_nonzero_number(operand) for operand in operands):
            return True
    return False


def _mentions_a_measurement(expression: ast.expr) -> bool:
    for node in ast.walk(expression):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
        if isinstance(node, ast.Constant):  # a key: attributes["...time_to_first_chunk"]
            name = node.value
        if isinstance(name, str) and MEASURED.search(name.lower()):
            return True
    return False


def _nonzero_number(expression: ast.expr) -> bool:
    value = expression.value if isinstance(expression, ast.Constant) else None
    return isinstance(value, int | float) and not isinstance(value, bool) and value != 0


def scan(source: str, path: str) -> dict[str, list[str]]:
    """The rule each test of ``source`` breaks: "no check", "always true", "timing"."""
    found: dict[str, list[str]] = {}
    for name, function in each_test(ast.parse(source)):
        broken = [] if checks_something(function) else ["no check"]
        asserts = [node.test for node in ast.walk(function) if isinstance(node, ast.Assert)]
        broken += ["always true"] if any(always_true(test) for test in asserts) else []
        broken += ["timing"] if any(bounds_a_measurement(test) for test in asserts) else []
        if broken:
            found[f"{path}::{name}"] = broken
    return found


def suite_findings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        found.update(scan(path.read_text(), path.relative_to(TESTS).as_posix()))
    return found


FINDINGS = suite_findings()


def _breaking(rule: str) -> set[str]:
    return {test for test, rules in FINDINGS.items() if rule in rules}


class TestTheSuite:
    def test_every_test_checks_something(self) -> None:
        """No test passes just by not crashing, outside the reasoned allow-list."""
        assert set() == _breaking("no check") - set(ALLOWED_WITHOUT_A_CHECK)

    def test_no_assertion_is_always_true(self) -> None:
        """No ``assert True``, ``assert x == x``, ``assert f() is f()`` or ``... or True``."""
        assert set() == _breaking("always true")

    def test_no_timing_assertion(self) -> None:
        """No elapsed time or memory size is bounded, outside the reasoned allow-list."""
        assert set() == _breaking("timing") - set(ALLOWED_TIMING)

    @pytest.mark.parametrize("allowed", [ALLOWED_WITHOUT_A_CHECK, ALLOWED_TIMING], ids=str)
    def test_the_allow_lists_are_current(self, allowed: dict[str, str]) -> None:
        """Each entry names a test that still breaks its rule, and gives a reason."""
        rule = "no check" if allowed is ALLOWED_WITHOUT_A_CHECK else "timing"
        assert set() == set(allowed) - _breaking(rule)
        assert all(reason.strip() for reason in allowed.values())


BROKEN_TESTS = """
import time, pytest

def test_runs_only():
    compile("x = 1", "<x>", "exec")

class TestThings:
    async def test_tautology(self):
        assert current() is current()

    def test_timed(self):
        start = time.perf_counter()
        work()
        assert time.perf_counter() - start < 0.5

    def test_rss(self):
        assert peak_rss_mb() <= 200 or True
"""

SOUND_TESTS = """
import pytest

def helper_that_asserts():
    assert ok()

def test_raises():
    with pytest.raises(ValueError):
        parse("x")

def test_helper():
    check_answer(ask())

def test_fake_clock(apm_clock):
    assert 250_000_000 == span.end_time - span.start_time
    assert 0 < first_chunk <= duration_s
"""


class TestTheScan:
    def test_it_finds_each_kind_of_broken_test(self) -> None:
        """Control: the rules above catch what they are meant to catch."""
        assert {
            "t.py::test_runs_only": ["no check"],
            "t.py::TestThings.test_tautology": ["always true"],
            "t.py::TestThings.test_timed": ["timing"],
            "t.py::TestThings.test_rss": ["always true", "timing"],
        } == scan(BROKEN_TESTS, "t.py")

    def test_it_passes_sound_tests(self) -> None:
        """Raises, checking helpers, exact fake-clock durations and orderings pass."""
        assert {} == scan(SOUND_TESTS, "t.py")
