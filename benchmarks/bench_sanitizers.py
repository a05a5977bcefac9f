"""Cost of the query sanitizers on worst-case text against ordinary SQL of the same length.

Each worst case (long names, ``_a`` runs, nested or unterminated quotes, many comments,
long digit runs, dollar quotes, backslashes) is timed against an ordinary query of the
same length, in the same rounds. Linear sanitizers keep every ratio near 1; before
issue 12, ``_a_a_a...`` cost 600 times an ordinary query at 32 KB.

    python -m benchmarks.bench_sanitizers [--quick] [--clock wall]
"""

from __future__ import annotations

from collections.abc import Callable

from autobot_apm._privacy import sql as _sql
from autobot_apm._privacy.sql import sanitize_redis, sanitize_sql, summarize_sql

from ._harness import Settings, Variant, command_line, measure, table, verdict

SIZE = 32_000
ORDINARY = "ordinary SQL"
WORST_CASES: dict[str, Callable[[int], str]] = {
    "_a runs": lambda n: "SELECT " + "_a" * (n // 2) + " FROM t WHERE x = N'y'",
    "one long name": lambda n: "SELECT " + "a" * n + "'x' FROM t",  # noqa: S608 - test text
    "names before strings": lambda n: ("a" * 60 + "'x'") * (n // 63),
    "nested quotes": lambda n: "SELECT '" + "''\"`" * (n // 4),
    "unterminated": lambda n: "SELECT \"a 'b `c $$d /*e " * (n // 24),
    "backslashes": lambda n: "SELECT " + "'a\\''x'" * (n // 7),
    "comments": lambda n: "SELECT a /* b */ -- c\n" * (n // 22),
    "digits": lambda n: "SELECT " + "1" * n + " FROM t",  # noqa: S608 - test text
    "dollar quotes": lambda n: "SELECT $a$" + "$a" * (n // 2),
}


def ordinary(n: int) -> str:
    return ("SELECT a, b FROM t WHERE c = 'x' AND d = 12 " * (n // 40 + 1))[:n]


def sanitizing(text: str) -> Callable[[int], object]:
    """What one tracked call does with its query, caches cleared: nothing is reused."""

    def run(count: int) -> None:
        for _ in range(count):
            _sql._last_long = ("", False, "")
            _sql._last_long_analysis = ("", None)
            summarize_sql(text)
            _sql.operation_and_collection(text)
            sanitize_sql(text)
            sanitize_redis(text)

    return run


def run(quick: bool, clock: str) -> str:
    settings = Settings.for_mode(quick, clock)
    size = 8_000 if quick else SIZE  # above the cached length: every call does the work
    variants = [Variant(ORDINARY, sanitizing(ordinary(size)))]
    variants += [Variant(name, sanitizing(make(size))) for name, make in WORST_CASES.items()]
    results = measure(variants, ORDINARY, settings)
    worst = max(result.ratio for result in results)
    lines = [
        "## Query sanitizers on worst-case text",
        "",
        table(f"{size} characters, against {ORDINARY} of the same length", results, ORDINARY),
        "",
        verdict("worst case x ordinary", worst, 3.0, "x"),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    command_line(__doc__ or "", run)
