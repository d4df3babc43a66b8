"""A promotion never sits with no way forward: the gate runs versions saved without a
model on the policy's model or the team's default, and the request page always names the
next step and the people who can take it; the requester can ask a named reviewer."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments.services import policy_set
from apps.llm.services import team_defaults_set
from apps.prompts import services
from apps.prompts.services import approver_grant, version_create
from tests.experiments.conftest import make_lab
from tests.prompts.test_policy import ROWS, gated_lab, request_for, run_gate


def page_of(client, promotion) -> str:
    url = reverse("prompts:promotion", kwargs={"team_slug": "acme", "promotion_id": promotion.pk})
    return client.get(url).content.decode()


def next_step(body: str) -> str:
    return body.split('id="next-step"')[1].split("</section>")[0]


def without_model(lab, template="Q: {{ q }}"):
    with team_scope(lab.team):
        return version_create(
            team=lab.team,
            actor=lab.actor,
            prompt=lab.prompt,
            kind="text",
            template=template,
            model_settings={},
            commit_message="saved without a model",
        )


@pytest.fixture
def gated(acme, alice, bob, demo_echo):
    return gated_lab(
        acme, alice, bob, demo_echo, rows=ROWS, tolerance=0.0, rule="no_detectable_regression"
    )


def test_the_gate_runs_a_version_without_a_model_on_the_policys_model(gated, alice, bob):
    candidate = without_model(gated)
    with team_scope(gated.team):
        policy_set(
            team=gated.team,
            actor=alice,
            prompt=gated.prompt,
            tag_name="production",
            dataset=gated.dataset,
            evaluators=_evaluator_ids(gated),
            tolerance=0.0,
            rule="no_detectable_regression",
            provider=gated.provider,
            model="demo-echo",
        )
    promotion = request_for(gated, bob, candidate)
    experiment = run_gate(gated, bob, promotion)
    with team_scope(gated.team):
        by_version = {v.prompt_version_id: v.settings for v in experiment.variants.all()}
    own = {"provider_id": gated.provider.pk, "model": "demo-echo"}
    assert by_version == {gated.version.pk: own, candidate.pk: own}
    with team_scope(gated.team):
        approved = services.promotion_approve(team=gated.team, actor=alice, promotion=promotion)
    assert approved.status == "approved"


def _evaluator_ids(lab):
    from apps.experiments.selectors import evaluator_list

    with team_scope(lab.team):
        return [e.pk for e in evaluator_list()]


def test_the_request_page_names_every_next_step_and_who_takes_it(client, gated, acme, alice, bob):
    candidate = without_model(gated)
    promotion = request_for(gated, bob, candidate)
    client.force_login(bob)

    # 1. Nothing names a model for v2: owners and admins can fix that, and the page says so.
    step = next_step(page_of(client, promotion))
    assert "v2 was saved without a model, and neither the policy nor the team names one" in step
    assert 'Alice <small class="muted">(owner)</small>' in step and "Bob" not in step
    with team_scope(acme), pytest.raises(ValidationFailed) as refused:
        from apps.experiments.services import gating_experiment_run

        gating_experiment_run(team=acme, actor=bob, promotion=promotion)
    assert "set the team's default model" in refused.value.message

    # 2. With a team default, editors (bob, the requester himself) run the gate.
    with team_scope(acme):
        team_defaults_set(team=acme, actor=alice, provider=gated.provider, model="demo-echo")
    step = next_step(page_of(client, promotion))
    assert "Run the gating experiment" in step
    assert 'Bob <small class="muted">(editor)</small> <strong>— you</strong>' in step

    # 3. The gate ran and passed: reviewers are named; the requester is not one of them.
    run_gate(gated, bob, promotion)
    body = page_of(client, promotion)
    step = next_step(body)
    assert "Approve or reject it." in step
    assert "Alice" in step and "Bob <small" not in step
    assert 'id="ask-reviewer"' in step


def test_the_requester_asks_a_named_reviewer(
    client, gated, acme, alice, bob, erin, django_capture_on_commit_callbacks
):
    candidate = gated.version_with("Q: {{ q }}", temperature=0.3)
    promotion = request_for(gated, bob, candidate)
    run_gate(gated, bob, promotion)  # same answers: the policy lets it through
    client.force_login(bob)
    ask = reverse(
        "prompts:promotion_ask", kwargs={"team_slug": "acme", "promotion_id": promotion.pk}
    )
    refused = client.post(ask, {"reviewer": erin.pk}, follow=True)
    assert "Ask one of the people who may review this request" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ask, {"reviewer": alice.pk}, follow=True)
    assert "Asked Alice to review: it is in their inbox." in response.content.decode()
    promotion.refresh_from_db()
    assert [a["email"] for a in promotion.review_asks] == [alice.email]
    (email,) = mail.outbox
    assert email.to == [alice.email]
    assert f"/t/acme/prompts/requests/{promotion.pk}/" in email.body
    assert "bob@acme.test asks you to review" in email.subject
    assert "(owner, asked)" in next_step(page_of(client, promotion))
    client.force_login(alice)
    inbox = client.get(reverse("prompts:reviews", kwargs={"team_slug": "acme"})).content.decode()
    assert "asked you" in inbox


def test_editors_review_only_when_granted_and_the_page_says_so(client, acme, alice, bob, demo_echo):
    lab = make_lab(acme, alice, demo_echo, rows=ROWS)
    with team_scope(acme):
        promotion = services.promotion_request_create(
            team=acme, actor=alice, prompt=lab.prompt, tag_name="production", candidate=lab.version
        )
    client.force_login(alice)
    body = page_of(client, promotion)
    step = next_step(body)
    assert "Nobody but the requester may review this request" in step
    assert "Editors (Bob) cannot review promotions of this prompt unless an owner or admin" in step
    with team_scope(acme):
        approver_grant(team=acme, actor=alice, prompt=lab.prompt, user=bob)
    step = next_step(page_of(client, promotion))
    assert "Approve or reject it." in step
    assert 'Bob <small class="muted">(editor granted approval on this prompt)</small>' in step
    assert "Editors (Bob)" not in step
