"""The statistics behind "is the candidate really better?": pure functions, no ORM.

Comparison pages, promotion policies, the CI gate and annotation agreement all call these,
so a verdict means the same thing everywhere.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def wilson_interval(passed: int, total: int, z: float = Z_95) -> Interval | None:
    """Wilson score interval for a pass rate; honest at small n and at 0 % / 100 %."""
    if total <= 0:
        return None
    if not 0 <= passed <= total:
        raise ValueError("passed must lie between 0 and total")
    p = passed / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact(regressions: int, improvements: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs.

    `regressions` = pass in the baseline, fail in the candidate; `improvements` the reverse.
    Under no difference each discordant pair is a fair coin, so this is a binomial test.
    """
    n = regressions + improvements
    if n == 0:
        return 1.0
    k = min(regressions, improvements)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(
    baseline: list[float], candidate: list[float], *, iterations: int = 2000, seed: int = 0
) -> tuple[float, Interval, float]:
    """Mean paired difference (candidate - baseline), its 95 % percentile interval and a
    two-sided bootstrap p-value. A fixed seed makes the figure reproducible on every page."""
    if len(baseline) != len(candidate):
        raise ValueError("paired samples must have the same length")
    n = len(baseline)
    if n == 0:
        return 0.0, Interval(0.0, 0.0, 0.0), 1.0
    diffs = [c - b for b, c in zip(baseline, candidate, strict=True)]
    observed = sum(diffs) / n
    rng = random.Random(seed)
    means = []
    for _ in range(iterations):
        total = 0.0
        for _ in range(n):
            total += diffs[rng.randrange(n)]
        means.append(total / n)
    means.sort()
    low = means[int(0.025 * (iterations - 1))]
    high = means[int(math.ceil(0.975 * (iterations - 1)))]
    # Two-sided p: how often the resampled mean falls on the other side of zero.
    below = sum(1 for m in means if m <= 0) / iterations
    above = sum(1 for m in means if m >= 0) / iterations
    p_value = min(1.0, 2 * min(below, above))
    if all(d == 0 for d in diffs):
        p_value = 1.0
    return observed, Interval(observed, low, high), p_value


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100
    lower = math.floor(rank)
    upper = math.ceil(rank)
    if lower == upper:
        return float(ordered[lower])
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (rank - lower)


def stdev(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no detectable difference at this sample size"


def verdict(difference: float, p_value: float, alpha: float = 0.05) -> str:
    """Plain-language verdict for a candidate against the baseline."""
    if p_value >= alpha or difference == 0:
        return NO_DIFFERENCE
    return BETTER if difference > 0 else WORSE


def cohen_kappa(pairs: list[tuple[object, object]]) -> float | None:
    """Cohen's kappa for two raters' labels on the same items; None when undefined."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    labels = {label for pair in pairs for label in pair}
    expected = 0.0
    for label in labels:
        first = sum(1 for a, _ in pairs if a == label) / n
        second = sum(1 for _, b in pairs if b == label) / n
        expected += first * second
    if expected == 1:
        # Both raters used one and the same label throughout: agreement is total but
        # kappa is undefined (0/0); report perfect agreement rather than a crash.
        return 1.0 if observed == 1 else None
    return (observed - expected) / (1 - expected)


def percent_agreement(pairs: list[tuple[object, object]]) -> float | None:
    if not pairs:
        return None
    return sum(1 for a, b in pairs if a == b) / len(pairs)
