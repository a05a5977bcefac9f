"""Cost of the sanitizers and redactors on worst-case text against ordinary text.

Each SQL worst case (long names, ``_a`` runs, nested or unterminated quotes, comments of
each dialect, long digit runs, dollar quotes, backslashes, Redis quoting) is timed
against an ordinary query of the same length, in the same rounds; each URL worst case
(separators, ``@`` and ``:`` runs, long keys, fragments) against an ordinary URL, through
``redact_url``, ``redact_query`` and header capture. Linear code keeps every ratio near
1; before issue 12, ``_a_a_a...`` cost 600 times an ordinary query at 32 KB.

    python -m benchmarks.bench_sanitizers [--quick] [--clock wall]
"""

from __future__ import annotations

from collections.abc import Callable

from autobot_apm._privacy import sql as _sql
from autobot_apm._privacy.headers import HeaderCapture
from autobot_apm._privacy.redact import redact_query, redact_url
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
    "hash comments": lambda n: "SELECT a # b\n" * (n // 13),
    "hashes on one line": lambda n: "SELECT a " + "#" * n,
    "dash quotes": lambda n: "SELECT a--'b\n" * (n // 13),
    "comment openers": lambda n: "SELECT " + "/*" * (n // 2),
    "comment closers": lambda n: "SELECT /* /* " + "*/" * (n // 2),
    "redis quotes": lambda n: "SET k '" + "a \\'" * (n // 4),
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
            for system in ("mysql", "postgresql"):
                sanitize_sql(text, system=system)
            sanitize_redis(text)

    return run


ORDINARY_URL = "ordinary URL"
URL_WORST_CASES: dict[str, Callable[[int], str]] = {
    "separators": lambda n: "&" * n,
    "semicolons and equals": lambda n: ";=" * (n // 2),
    "sensitive pairs": lambda n: "sig=a&" * (n // 6),
    "long key": lambda n: "_a" * (n // 2) + "=x",
    "at signs": lambda n: "https://" + "@" * n,
    "colons": lambda n: "https://" + ":" * n + "/",
    "fragment pairs": lambda n: "https://h/#" + "#a=b" * (n // 4),
}


def ordinary_url(n: int) -> str:
    # With a token: a query without any credential-like word skips the reading altogether.
    return ("https://u:p@example.com/a/b?page=2&q=shoes&token=abc&sort=asc#s&" * (n // 60 + 1))[:n]


def redacting(text: str) -> Callable[[int], object]:
    """What a request does with a URL, a query and a captured Location header."""
    capture = HeaderCapture(".*")
    headers = [(b"location", text.encode()), (b"x-" + text[:200].encode(), b"v")]

    def run(count: int) -> None:
        for _ in range(count):
            redact_url(text)
            redact_query(text)
            capture.attributes(headers, "p.")

    return run


def run(quick: bool, clock: str) -> str:
    settings = Settings.for_mode(quick, clock)
    size = 8_000 if quick else SIZE  # above the cached length: every call does the work
    variants = [Variant(ORDINARY, sanitizing(ordinary(size)))]
    variants += [Variant(name, sanitizing(make(size))) for name, make in WORST_CASES.items()]
    results = measure(variants, ORDINARY, settings)
    url_variants = [Variant(ORDINARY_URL, redacting(ordinary_url(size)))]
    url_variants += [Variant(name, redacting(make(size))) for name, make in URL_WORST_CASES.items()]
    url_results = measure(url_variants, ORDINARY_URL, settings)
    worst = max(result.ratio for result in results)
    worst_url = max(result.ratio for result in url_results)
    lines = [
        "## Query sanitizers on worst-case text",
        "",
        table(f"{size} characters, against {ORDINARY} of the same length", results, ORDINARY),
        "",
        verdict("worst case x ordinary", worst, 3.0, "x"),
        "",
        "## URL and header redaction on worst-case text",
        "",
        table(f"{size} characters, against an {ORDINARY_URL} of the same length",
              url_results, ORDINARY_URL),
        "",
        verdict("worst case x ordinary URL", worst_url, 3.0, "x"),
    ]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    command_line(__doc__ or "", run)
