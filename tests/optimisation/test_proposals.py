"""Every GEPA proposal is kept: the accepted ones (which also become versions) and the ones
that lost on their minibatch, with their text, the reflection that wrote them and their
scores against the parent's; the run page shows them round by round with a diff to the
parent, and the API's run detail lists them."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.tenancy import team_scope
from apps.experiments import services as experiment_services
from apps.optimisation.evaluation import seed_components
from apps.optimisation.models import Candidate, Proposal
from apps.prompts.models import PromptVersion
from tests.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def _contradicting_evaluators(world):
    """Saying "goodbye" passes one and fails the other: a rewrite that adds it (what the
    demo reflection proposes from "missing literal" feedback) cannot beat its parent."""
    with team_scope(world.team):
        return [
            experiment_services.evaluator_create(
                team=world.team,
                actor=world.alice,
                name=name,
                kind=kind,
                params=params,
                description="",
            )
            for name, kind, params in (
                ("says-goodbye", "contains", {"values": ["goodbye"]}),
                ("no-goodbye", "regex", {"pattern": "goodbye", "invert": True}),
            )
        ]


def test_it_stores_rejected_proposals_with_their_reflection_and_scores(demo_world):
    world = demo_world
    versions_before = _versions(world)
    run = world.finished(evaluators=_contradicting_evaluators(world), max_rounds=2)
    with team_scope(world.team):
        proposals = list(Proposal.objects.filter(run=run).order_by("round", "position"))
        candidates = Candidate.objects.filter(run=run).count()
        versions_after = _versions(world)
    assert proposals, "the search proposed nothing"
    rejected = [p for p in proposals if not p.accepted]
    assert rejected and len(rejected) == len(proposals)
    first = rejected[0]
    start = seed_components(world.version)  # the system message of the chat prompt
    (name,) = start
    assert first.parent_index == 0 and first.parent_components == start
    assert first.components[name] != start[name]
    assert 'End with "goodbye".' in first.components[name]
    assert "demo-echo (test server) reflection" in first.reflection
    assert "```" in first.reflection  # the whole answer, not only the rationale
    assert "goodbye" in first.rationale
    assert len(first.minibatch_ids) == len(first.scores) == len(first.parent_scores) == 4
    assert {str(i) for i in first.minibatch_ids} <= {str(i) for i in run.train_ids}
    assert first.total <= first.parent_total and first.reason
    assert first.candidate_index is None
    # Rejected proposals stay on the run: no candidate, no Hub version for them.
    assert candidates == 1 and versions_after == versions_before


def _versions(world):
    with team_scope(world.team):
        return PromptVersion.objects.filter(prompt=world.version.prompt).count()


def test_it_shows_proposals_round_by_round_with_a_diff_and_in_the_api(
    demo_world, api_client, api_key_for
):
    world = demo_world
    run = world.finished(evaluators=_contradicting_evaluators(world), max_rounds=2)
    client = Client()
    client.force_login(world.alice)
    page = client.get(f"/t/acme/optimisation/{run.pk}/").content.decode()
    assert 'id="proposals"' in page and "rejected on the minibatch" in page
    assert 'id="proposal-1-0" data-accepted="false"' in page
    assert 'class="diff-line diff-line-add"' in page  # the diff to the parent
    assert "End with &quot;goodbye&quot;." in page  # the reflection's text, escaped

    headers = bearer(api_key_for(world.team, world.alice, scopes=["experiments:read"]))
    body = api_client.get(f"/api/v1/optimisations/{run.pk}/", **headers).json()
    (proposal, *_) = body["proposals"]
    assert proposal["round"] == 1 and proposal["accepted"] is False
    start = seed_components(world.version)
    assert proposal["parent_components"] == start
    assert 'End with "goodbye".' in proposal["components"][next(iter(start))]
    assert len(proposal["scores"]) == len(proposal["parent_scores"]) == 4


def test_it_stores_an_accepted_proposal_with_its_candidate(demo_world):
    world = demo_world
    run = world.finished(max_rounds=3)
    with team_scope(world.team):
        accepted = [p for p in Proposal.objects.filter(run=run) if p.accepted]
        assert len(accepted) == 1
        candidate = Candidate.objects.get(run=run, index=accepted[0].candidate_index)
    assert candidate.components == accepted[0].components
    assert accepted[0].total > accepted[0].parent_total
