"""The comparison: summary against hand-computed values, filters, diff, CSV, query count."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.experiments import comparison, stats
from tests.experiments.compare_world import add_cells, make_experiment

T, F = True, False


def url(name, **kwargs):
    return reverse(f"experiments:{name}", kwargs={"team_slug": "acme", **kwargs})


@pytest.fixture
def table(acme, alice):
    """20 examples: both pass 8, regressions 1, improvements 9, both fail 2."""
    experiment, variants = make_experiment(acme, alice)
    outcomes = [(T, T)] * 8 + [(T, F)] + [(F, T)] * 9 + [(F, F)] * 2
    add_cells(acme, experiment, variants, outcomes)
    return experiment, variants


def summary_of(team, experiment):
    with team_scope(team):
        return comparison.experiment_summary(experiment)


def test_it_summarises_pass_rates_mcnemar_and_verdict(acme, table):
    experiment, variants = table
    summary = summary_of(acme, experiment)
    base, cand = summary.for_evaluator("exact")
    assert (base.passed, base.judged, cand.passed, cand.judged) == (9, 20, 17, 20)
    # Wilson 95 % for 17/20, by hand: centre 0.7936, half-width 0.1540.
    assert cand.ci_low == pytest.approx(0.6396, abs=1e-4)
    assert cand.ci_high == pytest.approx(0.9476, abs=1e-4)
    assert base.versus is None and base.is_baseline
    v = cand.versus
    # No repetitions: the paired test on examples is McNemar's exact test.
    assert (v.test, v.examples, v.regressions, v.improvements) == ("paired", 20, 1, 9)
    assert v.difference == pytest.approx(0.4)
    # Exact McNemar: 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024.
    assert v.p_value == pytest.approx(22 / 1024)
    assert v.verdict == "better"
    stats_by_label = {s.label: s for s in summary.variant_stats}
    assert stats_by_label["cand"].latency_p50 == pytest.approx(109.5)
    assert stats_by_label["cand"].latency_p95 == pytest.approx(118.05)
    assert stats_by_label["cand"].cost == pytest.approx(0.02)
    assert stats_by_label["cand"].input_tokens == 200


def test_small_differences_are_not_called(acme, alice):
    experiment, variants = make_experiment(acme, alice)
    add_cells(acme, experiment, variants, [(T, T)] * 5 + [(T, F)] * 2 + [(F, T)] * 1)
    v = summary_of(acme, experiment).for_evaluator("exact")[1].versus
    assert v.verdict == stats.NO_DIFFERENCE and v.p_value == pytest.approx(1.0)


def test_scores_without_pass_fail_use_the_seeded_paired_bootstrap(acme, alice):
    experiment, variants = make_experiment(acme, alice)
    pairs = [(0.2, 0.5), (0.4, 0.4), (0.1, 0.6), (0.3, 0.2), (0.5, 0.9), (0.6, 0.8)]
    add_cells(acme, experiment, variants, pairs, evaluator="similarity", value_only=True)
    cand = summary_of(acme, experiment).for_evaluator("similarity")[1]
    diff, interval, p = stats.paired_bootstrap(
        [b for b, _ in pairs], [c for _, c in pairs], iterations=2000, seed=0
    )
    v = cand.versus
    assert v.test == "bootstrap"
    assert (v.difference, v.low, v.high, v.p_value) == (diff, interval.low, interval.high, p)
    assert v.difference == pytest.approx(1.3 / 6)
    assert (v.regressions, v.improvements) == (1, 4)
    assert cand.mean == pytest.approx(3.4 / 6)


def test_the_regressions_filter_keeps_pass_in_baseline_fail_in_candidate(
    client, alice, acme, table
):
    experiment, _ = table
    client.force_login(alice)
    response = client.get(url("compare", experiment_id=experiment.pk), {"filter": "regressions"})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r.position for r in rows] == [8]
    assert response.context["matching"] == 1
    improvements = client.get(
        url("compare", experiment_id=experiment.pk), {"filter": "improvements"}
    )
    assert [r.position for r in improvements.context["rows"]] == list(range(9, 18))
    failed = client.get(url("compare", experiment_id=experiment.pk), {"filter": "failed"})
    assert failed.context["matching"] == 20 - 8
    body = response.content.decode()
    assert "better" in body and "1 regression" in body


def test_it_diffs_words_against_the_baseline_and_escapes_output(acme, alice, client):
    experiment, variants = make_experiment(acme, alice)
    add_cells(
        acme,
        experiment,
        variants,
        [(T, T)],
        outputs=[("the cat sat", "the <b>dog</b> sat")],
    )
    client.force_login(alice)
    body = client.get(url("compare", experiment_id=experiment.pk)).content.decode()
    assert (
        '<del class="diff-del">cat</del><ins class="diff-add">&lt;b&gt;dog&lt;/b&gt;</ins>' in body
    )
    assert "<b>dog</b>" not in body


def test_search_finds_rows_by_input_and_output(acme, alice, client, table):
    experiment, _ = table
    client.force_login(alice)
    response = client.get(url("compare", experiment_id=experiment.pk), {"q": "question 13"})
    assert [r.position for r in response.context["rows"]] == [13]
    response = client.get(url("compare", experiment_id=experiment.pk), {"q": "out 4 cand"})
    assert [r.position for r in response.context["rows"]] == [4]


def test_the_csv_export_neutralises_formulas(acme, alice, client):
    experiment, variants = make_experiment(acme, alice)
    add_cells(acme, experiment, variants, [(T, F)], outputs=[("=HYPERLINK(1)", "-2+3")])
    client.force_login(alice)
    response = client.get(url("compare_csv", experiment_id=experiment.pk))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, line = rows[0], rows[1]
    assert header[:5] == ["position", "example_id", "repetition", "input", "expected"]
    assert line[header.index("base: output")] == "'=HYPERLINK(1)"
    assert line[header.index("cand: output")] == "'-2+3"
    assert line[header.index("cand: exact")] == "fail"


def test_it_compares_experiments_on_the_same_dataset(acme, alice, client):
    first, v1 = make_experiment(acme, alice, name="one")
    ids = add_cells(acme, first, v1, [(T, T)] * 4 + [(F, F)] * 6)
    second, v2 = make_experiment(acme, alice, name="two", dataset=first.dataset, variants=("x",))
    add_cells(acme, second, v2, [(T,)] * 10, example_ids=ids)
    other, _ = make_experiment(acme, alice, name="three", variants=("y",))
    client.force_login(alice)
    response = client.get(url("compare_many"), {"ids": [first.pk, second.pk]})
    assert response.status_code == 200
    table = response.context["multi"]["table"][0]
    x = table["cells"][-1]
    assert (x["passed"], x["versus"].improvements, x["versus"].verdict) == (10, 6, "better")
    refused = client.get(url("compare_many"), {"ids": [first.pk, other.pk]})
    assert "same dataset" in refused.content.decode()
    exported = client.get(url("compare_many"), {"ids": [first.pk, second.pk], "format": "csv"})
    assert b"better" in b"".join(exported.streaming_content)


def test_the_page_needs_a_bounded_number_of_queries_at_10000_results(
    acme, alice, client, django_assert_max_num_queries
):
    experiment, variants = make_experiment(acme, alice, name="big")
    outcomes = [((i % 3 != 0), (i % 4 != 0)) for i in range(5000)]
    add_cells(acme, experiment, variants, outcomes)
    client.force_login(alice)
    with django_assert_max_num_queries(25):
        response = client.get(url("compare", experiment_id=experiment.pk))
    assert response.status_code == 200
    assert response.context["matching"] == 5000
    assert len(response.context["rows"]) == 25
    with django_assert_max_num_queries(25):
        response = client.get(
            url("compare", experiment_id=experiment.pk), {"filter": "regressions", "page": 3}
        )
    assert response.status_code == 200
    assert all(r.cells[0].scores[0][1].passed and not r.cells[1].scores[0][1].passed
               for r in response.context["rows"])  # fmt: skip


def test_it_reports_the_spread_between_repetitions(acme, alice):
    experiment, variants = make_experiment(acme, alice)
    with team_scope(acme):
        experiment.repetitions = 2
        experiment.save(update_fields=["repetitions"])
    ids = add_cells(acme, experiment, variants, [(T, T)] * 4)
    add_cells(
        acme, experiment, variants, [(T, F)] * 2 + [(T, T)] * 2, example_ids=ids, repetition=1
    )
    base, cand = summary_of(acme, experiment).for_evaluator("exact")
    assert base.repetition_spread == pytest.approx(0.0)
    # Two examples passed once and failed once (stdev sqrt(0.5) each), two never moved.
    assert cand.repetition_spread == pytest.approx(0.5**0.5 / 2)
    assert (cand.flaky_examples, base.flaky_examples) == (2, 0)
    # 8 cells are 4 examples: the two that dropped are the regressions.
    assert (cand.versus.examples, cand.versus.regressions) == (4, 2)


def test_it_counts_examples_not_repetitions(acme, alice, client):
    """8 examples x 3 repetitions: 24 rows per variant, n = 8 everywhere."""
    experiment, variants = make_experiment(acme, alice)
    with team_scope(acme):
        experiment.repetitions = 3
        experiment.save(update_fields=["repetitions"])
    outcomes = [(T, T)] * 5 + [(T, F)] * 3
    ids = add_cells(acme, experiment, variants, outcomes)
    for repetition in (1, 2):
        add_cells(acme, experiment, variants, outcomes, example_ids=ids, repetition=repetition)
    base, cand = summary_of(acme, experiment).for_evaluator("exact")
    assert (cand.judged, cand.examples) == (24, 8)
    v = cand.versus
    assert (v.examples, v.regressions, v.improvements) == (8, 3, 0)
    # The sign test on 3 regressions among 3 moved examples, not 9 among 9 cells.
    assert v.p_value == pytest.approx(0.25)
    assert v.verdict == "no detectable difference at this sample size"
    client.force_login(alice)
    page = client.get(url("compare", experiment_id=experiment.pk)).content.decode()
    assert "n = 8 examples" in page
    flaky = client.get(url("compare", experiment_id=experiment.pk), {"filter": "flaky"})
    assert flaky.context["matching"] == 0
