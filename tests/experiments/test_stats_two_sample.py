"""The two-sample statistics of online comparisons (rollout arms) against statsmodels and
scipy."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from apps.experiments import stats

EXAMPLES = settings(max_examples=120, deadline=None, derandomize=True, database=None)
sample = st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@EXAMPLES
@given(sample, sample)
def test_it_matches_statsmodels_on_two_proportions(baseline, candidate):
    (hb, nb), (hc, nc) = baseline, candidate
    ours = stats.two_proportion_difference(hb, nb, hc, nc)
    low, high = confint_proportions_2indep(hc, nc, hb, nb, method="agresti-caffo")
    assert ours.low == pytest.approx(max(-1.0, low), abs=1e-9)
    assert ours.high == pytest.approx(min(1.0, high), abs=1e-9)
    if 0 < hb + hc < nb + nc:
        _, p = proportions_ztest([hc, hb], [nc, nb])
        assert ours.p_value == pytest.approx(p, abs=1e-9)
    assert ours.difference == pytest.approx(hc / nc - hb / nb)


def test_it_shows_a_worse_error_rate_beyond_the_margin_only_with_evidence():
    clear = stats.two_proportion_difference(20, 1000, 60, 200)  # 2 % vs 30 %
    assert stats.worse_beyond_margin_p(clear, 0.02) < 1e-6
    close = stats.two_proportion_difference(20, 1000, 6, 200)  # 2 % vs 3 %
    assert stats.worse_beyond_margin_p(close, 0.02) > 0.3
    tiny = stats.two_proportion_difference(0, 3, 1, 3)  # one error in three calls
    assert stats.worse_beyond_margin_p(tiny, 0.02) > 0.05


def test_it_matches_scipy_welch_at_online_sizes():
    rng = random.Random(4)
    a = [rng.gauss(300, 40) for _ in range(800)]
    b = [rng.gauss(310, 60) for _ in range(600)]
    ours = stats.welch_difference(a, b)
    reference = sps.ttest_ind(b, a, equal_var=False)
    assert ours.difference == pytest.approx(sum(b) / len(b) - sum(a) / len(a))
    # A normal reference at these sizes: the same p as Welch's t to three decimals.
    assert ours.p_value == pytest.approx(reference.pvalue, abs=2e-3)
    assert math.isclose(ours.high - ours.low, 2 * stats.Z_95 * ours.std_error)
    assert stats.welch_difference([1.0], [2.0, 3.0]) is None
