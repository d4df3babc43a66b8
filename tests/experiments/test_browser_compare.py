"""In a real browser: open a comparison, filter to regressions, read the verdict; a promotion
blocked by its tag policy, the gating experiment run from the request, then approved."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from apps.core.tenancy import team_scope
from apps.experiments.runner import execute
from tests.experiments.compare_world import add_cells, make_experiment
from tests.experiments.conftest import make_lab

T, F = True, False


def test_it_opens_a_comparison_filters_to_regressions_and_reads_the_verdict(new_page, acme, alice):
    experiment, variants = make_experiment(acme, alice, name="tone-check")
    outcomes = [(T, T)] * 8 + [(T, F)] + [(F, T)] * 9 + [(F, F)] * 2
    add_cells(acme, experiment, variants, outcomes)
    page = new_page(alice)
    page.goto(f"/t/acme/experiments/{experiment.pk}/")
    page.get_by_role("link", name="Compare results").click()
    expect(page).to_have_url(re.compile(rf"/experiments/{experiment.pk}/compare/$"))
    verdict = page.locator("#compare-summary tr[data-variant='cand'] .verdict")
    expect(verdict).to_contain_text("better")
    expect(verdict).to_contain_text("1 regression, 9 improvements")
    expect(page.locator("#compare-charts svg").first).to_be_visible()
    expect(page.locator("#compare-table tbody tr")).to_have_count(20)

    page.get_by_role("link", name="Regressions only").click()
    expect(page.locator("#matching-count")).to_have_text("1 matching")
    rows = page.locator("#compare-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("question 8")
    expect(rows.first).to_contain_text("exact: fail")
    expect(page).to_have_url(re.compile(r"filter=regressions"))


ROWS = [{"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(6)]


def test_a_promotion_blocked_by_policy_is_approved_after_the_gating_experiment(
    new_page, acme, alice, bob, demo_echo
):
    from apps.experiments.services import policy_set
    from apps.prompts import services

    lab = make_lab(acme, alice, demo_echo, rows=ROWS)
    exact = lab.evaluator(name="exact")
    with team_scope(acme):
        first = services.promotion_request_create(
            team=acme, actor=bob, prompt=lab.prompt, tag_name="production", candidate=lab.version
        )
        services.promotion_approve(team=acme, actor=alice, promotion=first)
        policy_set(
            team=acme, actor=alice, prompt=lab.prompt, tag_name="production",
            dataset=lab.dataset, evaluators=[exact.pk],
            tolerance=0, rule="no_detectable_regression",  # six rows prove no margin
        )  # fmt: skip
    candidate = lab.version_with("Q: {{ q }}", temperature=0.3)
    with team_scope(acme):
        request = services.promotion_request_create(
            team=acme, actor=bob, prompt=lab.prompt, tag_name="production", candidate=candidate
        )

    page = new_page(alice)
    page.goto(f"/t/acme/prompts/requests/{request.pk}/")
    expect(page.locator("#policy-blockers")).to_contain_text("No experiment is attached")
    expect(page.locator("#approve-button")).to_be_disabled()

    page.get_by_role("button", name="Run the gating experiment").click()
    expect(page.locator(".evidence-item")).to_have_count(1)
    request.refresh_from_db()
    (experiment_id,) = request.evidence
    execute(experiment_id)  # the worker's job, inline

    page.reload()
    item = page.locator(".evidence-item")
    expect(item).to_contain_text("meets the policy")
    expect(item).to_contain_text("no detectable difference at this sample size")
    expect(page.locator("#policy-blockers")).to_have_count(0)
    page.fill("#id_comment", "Evidence attached.")
    page.locator("#approve-button").click()
    expect(page.locator("#promotion-status")).to_have_text("Approved")
