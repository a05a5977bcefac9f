"""Interleaved timing: every figure is a ratio against a baseline measured in the same run.

The machine these run on is shared and noisy, so absolute microseconds drift by tens of
percent from one minute to the next. What stays put is the ratio between two variants
timed side by side. So each round times every variant once, in a fresh shuffled order,
and a variant's ratio is taken per round against the baseline's time in that same
round. The table reports medians and the spread across rounds.

Garbage collection stays enabled, as in production: a variant that allocates more pays
for its collections. Everything built during set-up is collected and frozen first, so
that set-up garbage is not charged to whichever variant happens to run first.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Runner = Callable[[int], object]


# Wall time counts the moments the scheduler gives our core to someone else; on a shared
# machine that is most of the noise. The calling thread's CPU time does not, and it is
# still the cost a call adds to its caller (export runs on another thread either way).
CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``quick`` is the CI smoke mode, not a measurement."""

    rounds: int
    batch_seconds: float
    clock: str = "cpu"

    @classmethod
    def for_mode(cls, quick: bool, clock: str = "cpu") -> Settings:
        if quick:
            return cls(rounds=3, batch_seconds=0.002, clock=clock)
        return cls(rounds=61, batch_seconds=0.01, clock=clock)


@dataclass(frozen=True)
class Variant:
    """One way of making a call; ``run(n)`` makes ``n`` calls."""

    name: str
    run: Runner


@dataclass
class Result:
    """Per-round cost of one variant, and its ratio to the baseline in the same round."""

    name: str
    per_call_us: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return statistics.median(self.per_call_us)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratio_spread(self) -> tuple[float, float]:
        return quartiles(self.ratios)


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles (the same value twice for fewer than 4 values)."""
    if len(values) < 4:
        return min(values), max(values)
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def settle() -> None:
    """Collect set-up garbage and move survivors out of the collector's reach."""
    gc.collect()
    gc.freeze()


def calibrate(run: Runner, seconds: float) -> int:
    """How many calls take about ``seconds`` (at least 1)."""
    count = 1
    while True:
        started = time.perf_counter_ns()
        run(count)
        elapsed = (time.perf_counter_ns() - started) / 1e9
        if elapsed >= seconds / 4 or count >= 1 << 24:
            return max(1, int(count * seconds / max(elapsed, 1e-9)))
        count *= 4


def measure(variants: Sequence[Variant], baseline: str, settings: Settings) -> list[Result]:
    """Time every variant ``settings.rounds`` times, interleaved, against ``baseline``."""
    if baseline not in {variant.name for variant in variants}:
        raise ValueError(f"baseline {baseline!r} is not among the variants")
    clock = CLOCKS[settings.clock]
    counts = {v.name: calibrate(v.run, settings.batch_seconds) for v in variants}
    results = {v.name: Result(v.name) for v in variants}
    settle()
    order = list(variants)
    shuffler = random.Random(1)  # the same orders on every run
    for _ in range(settings.rounds):
        gc.collect()  # each round starts from the same heap state
        # A new order each round: no variant always runs first, or always right after
        # the same neighbour (whose garbage or export backlog it would inherit).
        shuffler.shuffle(order)
        this_round: dict[str, float] = {}
        for variant in order:
            count = counts[variant.name]
            started = clock()
            variant.run(count)
            this_round[variant.name] = (clock() - started) / 1000 / count
        for name, cost in this_round.items():
            results[name].per_call_us.append(cost)
            results[name].ratios.append(cost / this_round[baseline])
    return [results[v.name] for v in variants]


def table(
    title: str, results: Sequence[Result], baseline: str, added_over: str | None = None
) -> str:
    """A Markdown table: median cost per call, the ratio to the baseline with its IQR and,
    with ``added_over``, the median per-round difference to that variant (the overhead)."""
    reference = by_name(results)[added_over] if added_over else None
    extra = f" µs over {added_over} |" if added_over else ""
    lines = [
        f"#### {title}",
        "",
        f"| variant | µs per call (median) | µs IQR | x {baseline} (median) | ratio IQR |{extra}",
        "|---|---:|---:|---:|---:|" + ("---:|" if added_over else ""),
    ]
    for result in results:
        low_us, high_us = quartiles(result.per_call_us)
        low, high = result.ratio_spread
        row = (
            f"| {result.name} | {result.median_us:.2f} | {low_us:.2f}-{high_us:.2f} "
            f"| {result.ratio:.2f} | {low:.2f}-{high:.2f} |"
        )
        if reference is not None:
            row += f" {added_us(result, reference):.2f} |"
        lines.append(row)
    return "\n".join(lines)


def added_us(result: Result, reference: Result) -> float:
    """Median over rounds of the difference in µs per call (what ``result`` adds)."""
    pairs = zip(result.per_call_us, reference.per_call_us, strict=True)
    return statistics.median(a - b for a, b in pairs)


def by_name(results: Sequence[Result]) -> dict[str, Result]:
    return {result.name: result for result in results}


def paired_ratio(results: Sequence[Result], numerator: str, denominator: str) -> Result:
    """Per-round ratio between two variants that are not the baseline (e.g. ours/logfire)."""
    found = by_name(results)
    top, bottom = found[numerator], found[denominator]
    ratios = [a / b for a, b in zip(top.per_call_us, bottom.per_call_us, strict=True)]
    return Result(f"{numerator} / {denominator}", top.per_call_us, ratios)


def verdict(
    label: str, value: float, limit: float, unit: str = "x", *, at_least: bool = False
) -> str:
    """One line saying whether a measured figure is within its budget."""
    met = value >= limit if at_least else value <= limit
    bound = "≥" if at_least else "≤"
    outcome = "met" if met else "NOT met"
    return f"- budget {label}: {value:.2f}{unit} ({bound} {limit:g}{unit}) — {outcome}"


def quick_command_line(doc: str, run: Callable[[bool], str], quick_help: str) -> None:
    """The command line of a benchmark whose only option is ``--quick``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    print(run(parser.parse_args().quick))


def command_line(doc: str, run: Callable[[bool, str], str]) -> None:
    """The command line every in-process benchmark shares: ``--quick`` and ``--clock``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few short rounds")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()
    print(run(args.quick, args.clock))
