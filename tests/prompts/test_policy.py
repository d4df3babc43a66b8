"""Tag policies: approval refused without evidence, with a regression, or with evidence on
an old dataset revision; allowed once the gating experiment shows no regression."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.errors import PermissionRefused, ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments import gate
from apps.experiments.runner import execute
from apps.experiments.selectors import policy_for
from apps.experiments.services import gating_experiment_run, policy_set
from apps.prompts import services
from apps.prompts.models import PromotionStatus
from tests.experiments.conftest import make_lab

ROWS = [{"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(8)]


def gated_lab(acme, alice, bob, demo_echo, *, rows, tolerance, rule):
    """qa: production at v1 (passes every row), a policy on production, bob's candidates."""
    lab = make_lab(acme, alice, demo_echo, rows=rows)
    exact = lab.evaluator(name="exact")
    with team_scope(acme):
        first = services.promotion_request_create(
            team=acme, actor=bob, prompt=lab.prompt, tag_name="production", candidate=lab.version
        )
        services.promotion_approve(team=acme, actor=alice, promotion=first)
        policy_set(
            team=acme,
            actor=alice,
            prompt=lab.prompt,
            tag_name="production",
            dataset=lab.dataset,
            evaluators=[exact.pk],
            tolerance=tolerance,
            rule=rule,
        )
    return lab


@pytest.fixture
def gated(acme, alice, bob, demo_echo):
    return gated_lab(
        acme, alice, bob, demo_echo, rows=ROWS, tolerance=0.0, rule="no_detectable_regression"
    )


def request_for(lab, bob, version):
    with team_scope(lab.team):
        return services.promotion_request_create(
            team=lab.team, actor=bob, prompt=lab.prompt, tag_name="production", candidate=version
        )


def run_gate(lab, actor, promotion):
    with team_scope(lab.team):
        experiment = gating_experiment_run(team=lab.team, actor=actor, promotion=promotion)
    execute(experiment.pk)  # the worker's job, inline
    return experiment


def approve(lab, alice, promotion):
    with team_scope(lab.team):
        return services.promotion_approve(team=lab.team, actor=alice, promotion=promotion)


def test_the_policy_blocks_approval_until_the_gating_experiment_shows_no_regression(
    gated, alice, bob
):
    same_output = gated.version_with("Q: {{ q }}", temperature=0.5)  # v2, same answers
    promotion = request_for(gated, bob, same_output)
    with pytest.raises(ValidationFailed) as refused:
        approve(gated, alice, promotion)
    assert "No experiment is attached" in refused.value.message
    promotion.refresh_from_db()
    assert promotion.status == PromotionStatus.OPEN

    experiment = run_gate(gated, bob, promotion)
    promotion.refresh_from_db()
    assert promotion.evidence == [experiment.pk]
    with team_scope(gated.team):
        (item,) = gate.evidence_of(promotion, policy_for(gated.prompt, "production"))
    assert (
        item.satisfies
        and item.rows[0].versus.verdict == "no detectable difference at this sample size"
    )
    approved = approve(gated, alice, promotion)
    assert approved.status == PromotionStatus.APPROVED
    with team_scope(gated.team):
        from apps.prompts.selectors import version_at_tag

        assert version_at_tag(gated.prompt, "production").pk == same_output.pk


def test_a_regression_keeps_approval_blocked_and_says_why(gated, alice, bob):
    worse = gated.version_with("Wrong: {{ q }}")
    promotion = request_for(gated, bob, worse)
    run_gate(gated, bob, promotion)
    with pytest.raises(ValidationFailed) as refused:
        approve(gated, alice, promotion)
    assert "worse on exact" in refused.value.message
    assert "8 regressions" in refused.value.message


def test_evidence_on_an_old_revision_does_not_count(gated, alice, bob):
    from apps.datasets.services import example_create

    candidate = gated.version_with("Q: {{ q }}", temperature=0.7)
    promotion = request_for(gated, bob, candidate)
    run_gate(gated, bob, promotion)
    with team_scope(gated.team):
        example_create(
            team=gated.team,
            actor=alice,
            dataset=gated.dataset,
            input={"q": "new"},
            expected="echo: Q: new",
        )
    with pytest.raises(ValidationFailed) as refused:
        approve(gated, alice, promotion)
    assert "the current revision is" in refused.value.message


def test_only_admins_set_policies_and_only_on_protected_tags(gated, bob, alice):
    exact = gated.evaluator(name="other")
    with team_scope(gated.team), pytest.raises(PermissionRefused):
        policy_set(
            team=gated.team, actor=bob, prompt=gated.prompt, tag_name="production",
            dataset=gated.dataset, evaluators=[exact.pk],
        )  # fmt: skip
    with team_scope(gated.team), pytest.raises(ValidationFailed):
        policy_set(
            team=gated.team, actor=alice, prompt=gated.prompt, tag_name="staging",
            dataset=gated.dataset, evaluators=[exact.pk],
        )  # fmt: skip


def test_the_request_page_shows_the_evidence_and_why_approval_is_blocked(client, gated, alice, bob):
    worse = gated.version_with("Wrong: {{ q }}")
    promotion = request_for(gated, bob, worse)
    client.force_login(alice)
    page = reverse("prompts:promotion", kwargs={"team_slug": "acme", "promotion_id": promotion.pk})
    body = client.get(page).content.decode()
    assert "Approval is blocked by the policy of production" in body
    assert "Run the gating experiment" in body
    response = client.post(
        reverse("gate:run", kwargs={"team_slug": "acme", "promotion_id": promotion.pk})
    )
    assert response.status_code == 302
    promotion.refresh_from_db()
    (experiment_id,) = promotion.evidence
    execute(experiment_id)
    body = client.get(page).content.decode()
    assert "does not meet the policy" in body and "worse" in body
    assert 'id="approve-button" disabled' in body
    settings_page = client.get(
        reverse("prompts:settings", kwargs={"team_slug": "acme", "prompt_name": "qa"})
    ).content.decode()
    assert "Promotion policies" in settings_page and "questions" in settings_page


def test_it_reports_blockers_in_the_api_and_refuses_a_blocked_approval(
    api_client, api_key_for, gated, alice, bob
):
    from tests.conftest import bearer

    worse = gated.version_with("Wrong: {{ q }}")
    promotion = request_for(gated, bob, worse)
    admin = bearer(api_key_for(gated.team, alice, scopes=["prompts:read", "admin"]))
    detail = api_client.get(f"/api/v1/promotions/{promotion.pk}/", **admin).json()
    with team_scope(gated.team):
        expected = gate.approval_blockers(promotion)
    assert detail["blocked_reasons"] == expected
    assert any("No experiment is attached" in r for r in detail["blocked_reasons"])
    listed = api_client.get("/api/v1/promotions/?status=open", **admin).json()["results"]
    assert [p["blocked_reasons"] for p in listed if p["id"] == promotion.pk] == [expected]

    refused = api_client.post(f"/api/v1/promotions/{promotion.pk}/approve/", {}, **admin)
    assert refused.status_code == 400
    assert refused.json()["code"] == "approval_blocked"
    assert refused.json()["blocked_reasons"] == expected
    assert "No experiment is attached" in refused.json()["detail"]
    promotion.refresh_from_db()
    assert promotion.status == PromotionStatus.OPEN

    # The approved request from the fixture is closed: nothing blocks it any more.
    closed = [p for p in listed if p["id"] != promotion.pk]
    assert all(p["blocked_reasons"] == [] for p in closed)


TEN = [{"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(10)]


@pytest.mark.parametrize(
    ("rule", "allowed"), [("noninferiority", False), ("no_detectable_regression", True)]
)
def test_a_large_drop_on_ten_examples_is_blocked_under_noninferiority_only(
    acme, alice, bob, demo_echo, rule, allowed
):
    """3 of 10 examples regress: -30 points, yet the sign test's p is 0.25. The weaker rule
    sees no detectable regression; non-inferiority cannot show "at most 5 points worse"."""
    lab = gated_lab(acme, alice, bob, demo_echo, rows=TEN, tolerance=0.05, rule=rule)
    worse = lab.version_with("Q: {{ q }}{% if q[-1] in '789' %}?{% endif %}")
    promotion = request_for(lab, bob, worse)
    run_gate(lab, bob, promotion)
    if allowed:
        assert approve(lab, alice, promotion).status == PromotionStatus.APPROVED
        return
    with pytest.raises(ValidationFailed) as refused:
        approve(lab, alice, promotion)
    message = refused.value.message
    assert "at most 5 points worse" in message
    assert "on 10 examples" in message and "-30.0 points" in message
    assert "The data cannot yet show" in message


def test_noninferiority_needs_a_margin(acme, alice, demo_echo):
    lab = make_lab(acme, alice, demo_echo, rows=TEN)
    exact = lab.evaluator(name="exact")
    with team_scope(acme), pytest.raises(ValidationFailed) as refused:
        policy_set(
            team=acme,
            actor=alice,
            prompt=lab.prompt,
            tag_name="production",
            dataset=lab.dataset,
            evaluators=[exact.pk],
            tolerance=0,
        )
    assert refused.value.field == "tolerance"
