"""The statistics behind "is the candidate really better?": pure functions, no ORM.

Comparison pages, promotion policies, the CI gate and annotation agreement all call these,
so a verdict means the same thing everywhere.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def wilson_interval(passed: float, total: int, z: float = Z_95) -> Interval | None:
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


# --- the example as the unit ------------------------------------------------------------
#
# With repetitions, one example's outcome is its pass fraction (or mean score) across its
# repetitions: k runs of one input are one observation, not k. Everything below takes one
# value per example, paired by example.

_NORMAL = NormalDist()


def example_outcomes(cells: Iterable[tuple[Hashable, float]]) -> dict[Hashable, float]:
    """Mean outcome per example from (example key, outcome) pairs, one per repetition."""
    sums: dict[Hashable, list[float]] = {}
    for key, value in cells:
        acc = sums.setdefault(key, [0.0, 0])
        acc[0] += float(value)
        acc[1] += 1
    return {key: total / count for key, (total, count) in sums.items()}


@dataclass(frozen=True)
class PairedDifference:
    """Candidate minus baseline over examples, each example one paired observation."""

    examples: int
    difference: float  # mean per-example difference (a pass-rate difference for pass/fail)
    low: float  # 95 % interval, two-sided
    high: float
    p_value: float  # two-sided exact sign test on the examples whose outcome moved
    regressions: int  # examples whose outcome dropped
    improvements: int
    centre: float  # the adjusted mean the interval is built around
    std_error: float  # of the adjusted mean


def paired_difference(
    baseline: Sequence[float], candidate: Sequence[float], *, z: float = Z_95
) -> PairedDifference:
    """The paired difference of per-example outcomes in [0, 1], with an adjusted Wald interval.

    The interval adds two pseudo-examples: half a full improvement, half a full regression
    and one unchanged example (Agresti & Min, 2005, "Simple improved confidence intervals for
    comparing matched proportions"). For pass/fail outcomes that is exactly their
    matched-pairs interval; for pass fractions across repetitions it is the same estimator
    over examples. A 10-example set where nothing moved still has an interval of about
    ±16 points, not zero, so it cannot prove a tight margin. The p-value is the exact sign
    test on the examples whose outcome changed (McNemar's exact test without repetitions).
    """
    if len(baseline) != len(candidate):
        raise ValueError("paired samples must have the same length")
    values = [float(v) for v in (*baseline, *candidate)]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError("outcomes must lie in [0, 1]; use paired_bootstrap for scores")
    diffs = [float(c) - float(b) for b, c in zip(baseline, candidate, strict=True)]
    n = len(diffs)
    regressions = sum(1 for d in diffs if d < 0)
    improvements = sum(1 for d in diffs if d > 0)
    p_value = mcnemar_exact(regressions, improvements)
    if n == 0:
        return PairedDifference(0, 0.0, -1.0, 1.0, 1.0, 0, 0, 0.0, math.inf)
    adjusted_n = n + 2
    centre = sum(diffs) / adjusted_n
    second_moment = (sum(d * d for d in diffs) + 1.0) / adjusted_n
    std_error = math.sqrt(max(second_moment - centre * centre, 0.0) / adjusted_n)
    return PairedDifference(
        examples=n,
        difference=sum(diffs) / n,
        low=max(-1.0, centre - z * std_error),
        high=min(1.0, centre + z * std_error),
        p_value=p_value,
        regressions=regressions,
        improvements=improvements,
        centre=centre,
        std_error=std_error,
    )


@dataclass(frozen=True)
class NonInferiority:
    margin: float
    p_value: float  # one-sided: H0 "candidate is worse by the margin or more"
    shown: bool  # decided "not worse" (after the family's correction)
    examples_needed: int | None  # to decide at this margin with 80 % power; None: cannot


def noninferiority_p(diff: PairedDifference, margin: float) -> float:
    """One-sided p-value of H0: true difference <= -margin (the adjusted Wald statistic)."""
    if diff.examples == 0:
        return 1.0
    return 1.0 - _NORMAL.cdf((diff.centre + margin) / diff.std_error)


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down correction: which hypotheses are rejected at family level alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


def examples_needed(
    diff: PairedDifference, margin: float, *, alpha: float = 0.025, power: float = 0.8
) -> int | None:
    """Examples needed for the one-sided non-inferiority test to decide at this margin with
    the given power, if the observed difference and spread are the truth. None when the
    observed difference is already worse than the margin: more data would not help."""
    gap = diff.centre + margin
    if gap <= 0 or diff.examples == 0:
        return None
    spread = diff.std_error * math.sqrt(diff.examples + 2)
    z = _NORMAL.inv_cdf(1 - alpha) + _NORMAL.inv_cdf(power)
    return max(diff.examples, math.ceil((z * spread / gap) ** 2))


def smallest_detectable_regression(
    examples: int,
    *,
    changed_share: float = 0.2,
    alpha: float = 0.025,
    power: float = 0.8,
) -> float | None:
    """The margin a non-inferiority test on `examples` examples can prove with the given
    power when the versions truly perform alike and `changed_share` of the examples change
    outcome between them (the spread of per-example differences is then sqrt(share))."""
    if examples <= 0:
        return None
    z = _NORMAL.inv_cdf(1 - alpha) + _NORMAL.inv_cdf(power)
    return z * math.sqrt(max(changed_share, 1e-9) / (examples + 2))


def noninferiority_family(
    diffs: Sequence[PairedDifference], margin: float, *, alpha: float = 0.025
) -> list[NonInferiority]:
    """Non-inferiority of one candidate on each gating evaluator, Holm-corrected over the
    family at one-sided alpha (0.025 matches "the lower bound of the 95 % interval")."""
    p_values = [noninferiority_p(d, margin) for d in diffs]
    shown = holm(p_values, alpha)
    m = max(len(diffs), 1)
    return [
        NonInferiority(margin, p, ok, examples_needed(d, margin, alpha=alpha / m))
        for d, p, ok in zip(diffs, p_values, shown, strict=True)
    ]


@dataclass(frozen=True)
class Flakiness:
    examples: int
    flaky: int  # examples whose outcome differs between repetitions
    spread: float | None  # mean within-example standard deviation across repetitions


def flakiness(outcomes_by_example: Mapping[Any, Sequence[float]]) -> Flakiness:
    """How much one variant's outcome moves between repetitions of the same example."""
    flaky = 0
    deviations = []
    for values in outcomes_by_example.values():
        if len(values) < 2:
            continue
        if max(values) != min(values):
            flaky += 1
        deviations.append(stdev([float(v) for v in values]) or 0.0)
    spread = sum(deviations) / len(deviations) if deviations else None
    return Flakiness(len(outcomes_by_example), flaky, spread)


# --- two independent samples (online comparisons: one trace is one observation) ---------


@dataclass(frozen=True)
class TwoSampleDifference:
    """Candidate minus baseline over two independent samples."""

    baseline_n: int
    candidate_n: int
    difference: float
    low: float  # 95 % interval, two-sided
    high: float
    p_value: float  # two-sided, H0: no difference
    std_error: float


def two_proportion_difference(
    baseline_hits: int, baseline_n: int, candidate_hits: int, candidate_n: int, *, z: float = Z_95
) -> TwoSampleDifference:
    """Difference of two independent proportions (say error rates of two rollout arms):
    the Agresti-Caffo interval (one success and one failure added to each sample; Agresti &
    Caffo, 2000) and the pooled two-proportion z-test's two-sided p-value."""
    if baseline_n <= 0 or candidate_n <= 0:
        return TwoSampleDifference(baseline_n, candidate_n, 0.0, -1.0, 1.0, 1.0, math.inf)
    for hits, n in ((baseline_hits, baseline_n), (candidate_hits, candidate_n)):
        if not 0 <= hits <= n:
            raise ValueError("hits must lie between 0 and n")
    p_b, p_c = baseline_hits / baseline_n, candidate_hits / candidate_n
    a_b = (baseline_hits + 1) / (baseline_n + 2)
    a_c = (candidate_hits + 1) / (candidate_n + 2)
    se_adj = math.sqrt(a_b * (1 - a_b) / (baseline_n + 2) + a_c * (1 - a_c) / (candidate_n + 2))
    pooled = (baseline_hits + candidate_hits) / (baseline_n + candidate_n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / candidate_n))
    diff = p_c - p_b
    p_value = 1.0 if se_pooled == 0 else 2 * (1 - _NORMAL.cdf(abs(diff) / se_pooled))
    return TwoSampleDifference(
        baseline_n=baseline_n,
        candidate_n=candidate_n,
        difference=diff,
        low=max(-1.0, (a_c - a_b) - z * se_adj),
        high=min(1.0, (a_c - a_b) + z * se_adj),
        p_value=min(1.0, p_value),
        std_error=se_adj,
    )


def worse_beyond_margin_p(diff: TwoSampleDifference, margin: float) -> float:
    """One-sided p-value of H0 "the candidate's rate exceeds the baseline's by at most
    `margin`" (for error rates: small p = shown worse beyond the margin)."""
    if diff.baseline_n <= 0 or diff.candidate_n <= 0 or not math.isfinite(diff.std_error):
        return 1.0
    centre = (diff.low + diff.high) / 2
    return 1.0 - _NORMAL.cdf((centre - margin) / diff.std_error)


def welch_difference(
    baseline: Sequence[float], candidate: Sequence[float], *, z: float = Z_95
) -> TwoSampleDifference | None:
    """Difference of two independent means (latency, cost per call): Welch's standard
    error, a normal 95 % interval and two-sided p (fine at the sizes online data comes in;
    None below two observations a side)."""
    nb, nc = len(baseline), len(candidate)
    if nb < 2 or nc < 2:
        return None
    mb, mc = sum(baseline) / nb, sum(candidate) / nc
    vb = sum((x - mb) ** 2 for x in baseline) / (nb - 1)
    vc = sum((x - mc) ** 2 for x in candidate) / (nc - 1)
    se = math.sqrt(vb / nb + vc / nc)
    diff = mc - mb
    p_value = 1.0 if se == 0 else 2 * (1 - _NORMAL.cdf(abs(diff) / se))
    return TwoSampleDifference(nb, nc, diff, diff - z * se, diff + z * se, min(1.0, p_value), se)
