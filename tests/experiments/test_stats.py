"""The statistics checked against hand-computed and textbook values."""

import pytest

from apps.experiments import stats


def test_it_computes_the_wilson_interval_of_a_known_table():
    interval = stats.wilson_interval(8, 10)
    # Newcombe (1998), method 3: 8/10 -> 0.4902 to 0.9433.
    assert interval.estimate == 0.8
    assert interval.low == pytest.approx(0.4902, abs=1e-4)
    assert interval.high == pytest.approx(0.9433, abs=1e-4)


def test_it_keeps_the_wilson_interval_inside_zero_and_one_at_the_extremes():
    none = stats.wilson_interval(0, 20)
    assert none.low == 0.0 and none.high == pytest.approx(0.1611, abs=1e-4)
    assert stats.wilson_interval(20, 20).high == 1.0
    assert stats.wilson_interval(0, 0) is None


def test_it_computes_the_exact_mcnemar_p_value_by_hand():
    # 10 discordant pairs, 1 against 9: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024.
    assert stats.mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert stats.mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(5, 5) == 1.0


def test_it_reproduces_the_paired_bootstrap_with_a_fixed_seed():
    baseline = [0.2, 0.4, 0.5, 0.3, 0.6, 0.1, 0.4, 0.5]
    candidate = [0.6, 0.7, 0.8, 0.5, 0.9, 0.5, 0.6, 0.9]
    first = stats.paired_bootstrap(baseline, candidate, seed=7)
    second = stats.paired_bootstrap(baseline, candidate, seed=7)
    assert first == second
    difference, interval, p_value = first
    assert difference == pytest.approx(0.3125)
    assert 0 < interval.low < difference < interval.high
    assert p_value < 0.05
    assert stats.verdict(difference, p_value) == stats.BETTER


def test_it_finds_no_difference_when_the_pairs_are_identical():
    same = [0.5, 0.7, 0.1]
    difference, _, p_value = stats.paired_bootstrap(same, same)
    assert difference == 0 and p_value == 1.0
    assert stats.verdict(difference, p_value) == stats.NO_DIFFERENCE


def test_it_calls_a_significant_drop_worse():
    assert stats.verdict(-0.2, 0.01) == stats.WORSE
    assert stats.verdict(-0.2, 0.2) == stats.NO_DIFFERENCE


def test_it_computes_cohens_kappa_of_a_textbook_table():
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15: po = 0.7, pe = 0.5, kappa = 0.4.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert stats.cohen_kappa(pairs) == pytest.approx(0.4)
    assert stats.percent_agreement(pairs) == pytest.approx(0.7)
    assert stats.cohen_kappa([]) is None
    assert stats.cohen_kappa([("y", "y"), ("y", "y")]) == 1.0


def test_it_interpolates_percentiles_like_numpy():
    values = [10, 20, 30, 40]
    assert stats.percentile(values, 50) == 25
    assert stats.percentile(values, 95) == pytest.approx(38.5)
    assert stats.percentile([], 50) is None
