"""An optimisation run as promotion evidence: its held-out comparison satisfies a protected
tag's policy the way an experiment does (same statistics, judged under the policy), the
reviewer sees it, and nobody can attach another team's run."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.errors import PermissionRefused, ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments import gate
from apps.experiments.selectors import policy_for
from apps.experiments.services import policy_set
from apps.optimisation.services import optimisation_promotion_create
from apps.prompts import services as prompt_services
from apps.prompts.models import PromotionStatus, PromptVersion, Tag
from tests.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def _policy(world, *, tolerance=0.10):
    with team_scope(world.team):
        return policy_set(
            team=world.team,
            actor=world.alice,
            prompt=world.version.prompt,
            tag_name="production",
            dataset=world.dataset,
            evaluators=[e.pk for e in world.evaluators],
            tolerance=tolerance,
        )


def test_it_satisfies_a_tag_policy_with_the_run_and_a_second_person_approves(demo_world, bob):
    world = demo_world
    # 20 held-out examples show "not worse by 10 points" (5 would need about 170).
    run = world.finished(margin=0.10)
    _policy(world, tolerance=0.10)
    with team_scope(world.team):
        best = run.best_candidate.version
        # Without evidence the policy blocks the same move.
        plain = prompt_services.promotion_request_create(
            team=world.team,
            actor=world.alice,
            prompt=best.prompt,
            tag_name="production",
            candidate=best,
        )
        assert gate.approval_blockers(plain)
        prompt_services.promotion_cancel(team=world.team, actor=world.alice, promotion=plain)

        promotion = optimisation_promotion_create(team=world.team, actor=world.alice, run=run)
        assert promotion.evidence == [f"optimisation:{run.pk}"]
        (item,) = gate.evidence_of(promotion, policy_for(best.prompt, "production"))
        assert item.kind == "optimisation" and item.satisfies, (item.problems, item.findings)
        assert gate.approval_blockers(promotion) == []
        # The same statistics as the run's own validation comparison (the same margin).
        assert run.comparison["noninferior"]
        by_name = {row["evaluator"]: row for row in run.comparison["evaluators"]}
        assert {r.evaluator for r in item.rows} == set(by_name)
        for row in item.rows:
            assert row.versus.examples == run.comparison["examples"]
            assert row.versus.difference == pytest.approx(by_name[row.evaluator]["difference"])
            assert row.versus.low == pytest.approx(by_name[row.evaluator]["low"])
            assert row.versus.p_value == pytest.approx(by_name[row.evaluator]["p_value"])
            assert row.rate == pytest.approx(by_name[row.evaluator]["best"]["rate"])
        with pytest.raises(PermissionRefused):  # four eyes: not the requester
            prompt_services.promotion_approve(
                team=world.team, actor=world.alice, promotion=promotion
            )

    # The reviewer sees the run's comparison, with a link to the run, before approving.
    reviewer = Client()
    reviewer.force_login(bob)
    page = reviewer.get(f"/t/acme/prompts/requests/{promotion.pk}/").content.decode()
    assert f'data-optimisation="{run.pk}"' in page
    assert f'href="/t/acme/optimisation/{run.pk}/"' in page
    assert "meets the policy" in page and "Held-out validation" in page
    assert 'id="approve-button" disabled' not in page

    with team_scope(world.team):
        prompt_services.promotion_approve(team=world.team, actor=bob, promotion=promotion)
        promotion.refresh_from_db()
        assert promotion.status == PromotionStatus.APPROVED
        assert Tag.objects.get(prompt=best.prompt, name="production").version == best


def test_it_does_not_count_a_run_that_compared_other_versions(demo_world):
    world = demo_world
    run = world.finished()
    policy = _policy(world)
    with team_scope(world.team):
        other = PromptVersion.objects.get(prompt=world.version.prompt, number=2)
        promotion = prompt_services.promotion_request_create(
            team=world.team,
            actor=world.alice,
            prompt=other.prompt,
            tag_name="production",
            candidate=other,
            evidence=[f"optimisation:{run.pk}"],
        )
        (item,) = gate.evidence_of(promotion, policy)
        assert not item.satisfies
        best = run.best_candidate.version.number
        assert item.problems == [
            f"Optimisation run #{run.pk} compared v{best} with its start, not the candidate v2."
        ]
        blockers = gate.approval_blockers(promotion)
        assert item.problems[0] in blockers


def test_it_does_not_count_a_run_on_an_older_revision(demo_world):
    from apps.datasets import services as dataset_services

    world = demo_world
    run = world.finished()
    policy = _policy(world)
    with team_scope(world.team):
        dataset_services.example_create(
            team=world.team,
            actor=world.alice,
            dataset=world.dataset,
            input={"message": "Where is my parcel?", "order_status": "shipped"},
            expected="shipped",
        )
        promotion = optimisation_promotion_create(team=world.team, actor=world.alice, run=run)
        policy.refresh_from_db()
        (item,) = gate.evidence_of(promotion, policy_for(world.version.prompt, "production"))
        assert not item.satisfies
        assert any("current revision is" in p for p in item.problems), item.problems


def test_it_refuses_an_outsiders_run_as_evidence(demo_world, globex, dave, api_client, api_key_for):
    run = demo_world.finished()
    with team_scope(globex):
        prompt = prompt_services.prompt_create(team=globex, actor=dave, name="greeter")
        version = prompt_services.version_create(
            team=globex,
            actor=dave,
            prompt=prompt,
            kind="text",
            template="Hello {{ name }}",
            commit_message="first",
        )
        with pytest.raises(ValidationFailed) as refused:
            prompt_services.promotion_request_create(
                team=globex,
                actor=dave,
                prompt=prompt,
                tag_name="production",
                candidate=version,
                evidence=[f"optimisation:{run.pk}"],
            )
    assert refused.value.field == "evidence"
    assert f"no optimisation run #{run.pk} in this team" in refused.value.message

    # The request form says the same, on the field.
    client = Client()
    client.force_login(dave)
    page = client.post(
        "/t/globex/prompts/greeter/v/1/promote/",
        {"tag_name": "production", "evidence": f"optimisation:{run.pk}"},
    )
    assert page.status_code == 200
    assert f"Evidence: there is no optimisation run #{run.pk} in this team." in (
        page.content.decode()
    )

    headers = bearer(api_key_for(globex, dave, scopes=["prompts:write"]))
    body = {"prompt": "greeter", "candidate": 1, "tag_name": "production"}
    for evidence, says in (
        ([f"optimisation:{run.pk}"], f"optimisation run #{run.pk}"),
        (["optimisation:99999999"], "optimisation run #99999999"),
        (["optimisation:abc"], "is neither an experiment id"),
        (["elsewhere:3"], "no elsewhere #3"),
    ):
        response = api_client.post(
            "/api/v1/promotions/", {**body, "evidence": evidence}, format="json", **headers
        )
        assert response.status_code == 400, response.content
        assert "evidence" in response.content.decode() and says in response.content.decode()


def test_it_takes_a_run_as_evidence_through_the_promotions_api(demo_world, api_client, api_key_for):
    world = demo_world
    run = world.finished()
    _policy(world)
    best = run.best_candidate.version
    headers = bearer(api_key_for(world.team, world.alice, scopes=["prompts:write"]))
    created = api_client.post(
        "/api/v1/promotions/",
        {
            "prompt": best.prompt.name,
            "candidate": best.number,
            "tag_name": "production",
            "evidence": [f"optimisation:{run.pk}"],
        },
        format="json",
        **headers,
    )
    assert created.status_code == 201, created.content
    assert created.json()["evidence"] == [f"optimisation:{run.pk}"]
    assert created.json()["blocked_reasons"] == []


def test_it_takes_a_run_typed_into_the_request_form(demo_world):
    world = demo_world
    run = world.finished()
    _policy(world)
    best = run.best_candidate.version
    client = Client()
    client.force_login(world.alice)
    response = client.post(
        f"/t/acme/prompts/{best.prompt.name}/v/{best.number}/promote/",
        {"tag_name": "production", "evidence": f"optimisation:{run.pk}"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with team_scope(world.team):
        (promotion,) = [p for p in best.prompt.promotions.all() if p.candidate_id == best.pk]
        assert promotion.evidence == [f"optimisation:{run.pk}"]
        assert gate.approval_blockers(promotion) == []


def test_it_prefills_the_run_as_evidence_on_the_run_promotion_page(demo_world):
    world = demo_world
    run = world.finished()
    client = Client()
    client.force_login(world.alice)
    url = f"/t/acme/optimisation/{run.pk}/promotion/"
    page = client.get(url).content.decode()
    assert f'name="evidence" value="optimisation:{run.pk}"' in page
    response = client.post(
        url, {"tag_name": "production", "evidence": f"optimisation:{run.pk}", "description": "x"}
    )
    assert response.status_code == 302
    with team_scope(world.team):
        run.refresh_from_db()
        assert run.promotion.evidence == [f"optimisation:{run.pk}"]
