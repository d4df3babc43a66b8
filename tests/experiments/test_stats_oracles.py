"""Our statistics against the reference libraries (scipy, statsmodels) over many random
tables, so a verdict on the comparison page means what a statistician would compute."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from apps.experiments import stats

EXAMPLES = settings(max_examples=150, deadline=None, derandomize=True, database=None)


@EXAMPLES
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_it_matches_statsmodels_wilson(table):
    passed, total = table
    ours = stats.wilson_interval(passed, total)
    low, high = proportion_confint(passed, total, alpha=0.05, method="wilson")
    assert ours.low == pytest.approx(low, abs=1e-9)
    assert ours.high == pytest.approx(high, abs=1e-9)


@EXAMPLES
@given(st.integers(0, 60), st.integers(0, 60))
def test_it_matches_scipy_and_statsmodels_exact_mcnemar(regressions, improvements):
    ours = stats.mcnemar_exact(regressions, improvements)
    n = regressions + improvements
    if n == 0:
        assert ours == 1.0
        return
    assert ours == pytest.approx(sps.binomtest(regressions, n, 0.5).pvalue, rel=1e-9)
    table = [[5, regressions], [improvements, 5]]
    assert ours == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-9)


@EXAMPLES
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=40), st.integers(0, 10**6))
def test_it_matches_the_paired_mean_difference_and_sign_test(base, seed):
    rng = random.Random(seed)
    cand = [
        min(1.0, max(0.0, b + rng.choice([-1, -0.5, 0, 0, 0.5, 1]) * rng.random())) for b in base
    ]
    ours = stats.paired_difference(base, cand)
    diffs = np.array(cand) - np.array(base)
    assert ours.difference == pytest.approx(float(diffs.mean()), abs=1e-12)
    moved = int((diffs != 0).sum())
    if moved:
        expected = sps.binomtest(int((diffs < 0).sum()), moved, 0.5).pvalue
        assert ours.p_value == pytest.approx(expected, rel=1e-9)
    assert ours.low <= ours.centre <= ours.high


@EXAMPLES
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_it_is_the_agresti_min_interval_on_pass_fail_pairs(n11, n12, n21, n22):
    """n12 = baseline passed and candidate failed; n21 the reverse (the matched-pairs table)."""
    n = n11 + n12 + n21 + n22
    if n == 0:
        return
    base = [1] * n11 + [1] * n12 + [0] * n21 + [0] * n22
    cand = [1] * n11 + [0] * n12 + [1] * n21 + [0] * n22
    ours = stats.paired_difference(base, cand)
    # Agresti & Min (2005), written from the paper's table form, independent of our code.
    p12, p21 = (n12 + 0.5) / (n + 2), (n21 + 0.5) / (n + 2)
    delta = p21 - p12
    se = math.sqrt(((p12 + p21) - delta**2) / (n + 2))
    z = sps.norm.ppf(0.975)
    assert ours.low == pytest.approx(max(-1, delta - z * se), abs=1e-9)
    assert ours.high == pytest.approx(min(1, delta + z * se), abs=1e-9)
    assert stats.noninferiority_p(ours, 0.05) == pytest.approx(sps.norm.sf((delta + 0.05) / se))


@pytest.mark.parametrize(
    ("n", "p_base", "p_cand", "discordance"),
    [(10, 0.8, 0.8, 0.1), (30, 0.7, 0.6, 0.3), (80, 0.9, 0.95, 0.1), (200, 0.5, 0.5, 0.4)],
)
def test_it_covers_the_true_difference_95_percent_of_the_time(n, p_base, p_cand, discordance):
    rng = np.random.default_rng(7)
    true_diff = p_cand - p_base
    # Joint pass/fail of (baseline, candidate) with the given marginals and discordance.
    p10 = (discordance - true_diff) / 2
    p01 = (discordance + true_diff) / 2
    p11 = p_base - p10
    p00 = 1 - p11 - p10 - p01
    cells = np.array([p11, p10, p01, p00])
    covered = 0
    trials = 2000
    for counts in rng.multinomial(n, cells, size=trials):
        n11, n10, n01, n00 = counts
        base = [1] * (n11 + n10) + [0] * (n01 + n00)
        cand = [1] * n11 + [0] * n10 + [1] * n01 + [0] * n00
        d = stats.paired_difference(base, cand)
        covered += d.low <= true_diff <= d.high
    assert covered / trials >= 0.93


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=12))
def test_it_matches_statsmodels_holm(p_values):
    ours = stats.holm(p_values, 0.05)
    reject, *_ = multipletests(p_values, alpha=0.05, method="holm")
    assert ours == list(reject)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=20, max_size=60), st.integers(0, 999))
def test_it_matches_scipy_bootstrap_interval(base, seed):
    rng = random.Random(seed)
    cand = [min(1.0, max(0.0, b + rng.uniform(-0.4, 0.4))) for b in base]
    _, ours, _ = stats.paired_bootstrap(base, cand, iterations=4000, seed=seed)
    diffs = np.array(cand) - np.array(base)
    ref = sps.bootstrap(
        (diffs,), np.mean, n_resamples=4000, method="percentile", random_state=seed
    ).confidence_interval
    width = max(ref.high - ref.low, 1e-9)
    assert abs(ours.low - ref.low) <= 0.15 * width + 1e-9
    assert abs(ours.high - ref.high) <= 0.15 * width + 1e-9


@EXAMPLES
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50), st.floats(0, 100))
def test_it_matches_numpy_percentile_and_stdev(values, q):
    assert stats.percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-6
    )
    if len(values) > 1:
        assert stats.stdev(values) == pytest.approx(
            float(np.std(values, ddof=1)), rel=1e-9, abs=1e-6
        )


@EXAMPLES
@given(st.lists(st.tuples(st.sampled_from("pfx"), st.sampled_from("pfx")), min_size=2, max_size=60))
def test_it_matches_statsmodels_cohen_kappa(pairs):
    labels = sorted({label for pair in pairs for label in pair})
    if len(labels) < 2:
        return
    table = np.zeros((len(labels), len(labels)))
    for a, b in pairs:
        table[labels.index(a), labels.index(b)] += 1
    expected = float(sm_kappa(table, return_results=False))
    ours = stats.cohen_kappa(pairs)
    if math.isnan(expected):
        return
    assert ours == pytest.approx(expected, abs=1e-9)


def test_it_counts_examples_not_repetitions():
    # 8 examples x 3 repetitions: 24 cells reduce to 8 observations.
    cells = [((example, rep), example % 2) for example in range(8) for rep in range(3)]
    per_example = stats.example_outcomes(((ex, v) for (ex, _), v in cells))
    assert len(per_example) == 8


def test_it_refuses_a_tight_margin_on_ten_unchanged_examples_and_says_how_many_are_needed():
    same = stats.paired_difference([1] * 10, [1] * 10)
    [decision] = stats.noninferiority_family([same], 0.05)
    assert not decision.shown
    assert decision.examples_needed and decision.examples_needed > 10


def test_it_cannot_decide_for_a_candidate_worse_than_the_margin():
    drop = stats.paired_difference([1] * 8 + [0] * 2, [1] * 6 + [0] * 4)
    [decision] = stats.noninferiority_family([drop], 0.05)
    assert not decision.shown
    assert decision.examples_needed is None


def test_it_shows_noninferiority_on_a_large_set_that_did_not_move():
    same = stats.paired_difference([1] * 180 + [0] * 20, [1] * 181 + [0] * 19)
    [decision] = stats.noninferiority_family([same], 0.05)
    assert decision.shown


def test_it_reports_flaky_examples():
    f = stats.flakiness({"a": [1, 1, 1], "b": [1, 0, 1], "c": [0, 0, 0]})
    assert (f.examples, f.flaky) == (3, 1)
    assert f.spread == pytest.approx(np.std([1, 0, 1], ddof=1) / 3)
