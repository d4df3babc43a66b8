"""An optimisation run on demo-echo: GEPA with our adapter improves the demo prompt."""

from __future__ import annotations

import pytest

from apps.core.tenancy import team_scope
from apps.optimisation.engine import execute
from apps.optimisation.models import Candidate, Evaluation, Reflection, Round, RunStatus
from apps.optimisation.services import optimisation_run_start

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_improves_the_demo_prompts_validation_pass_rate(demo_world):
    run = demo_world.run()
    with team_scope(demo_world.team):
        optimisation_run_start(team=demo_world.team, actor=demo_world.alice, run=run, enqueue=False)
    execute(run.pk)
    with team_scope(demo_world.team):
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        c = run.comparison
        assert c["best"]["rate"] > c["start"]["rate"]
        assert c["best"]["rate"] == 1.0
        best = run.best_candidate
        assert best.version.number == 4  # a new Hub version after the seeded three
        assert "include the order status" in best.version.messages[0]["content"]
        assert "order status" in best.version.commit_message
        rounds = list(Round.objects.filter(run=run).order_by("number"))
        assert any(r.accepted for r in rounds) and rounds[-1].best_train_score == 1.0
        # The reflection really read the feedback: demo-echo's rule names the failures.
        answer = Reflection.objects.get(run=run).answer
        assert "left out the expected order status" in answer
        # Every evaluation is stored once per (candidate, example).
        keys = list(Evaluation.objects.filter(run=run).values_list("candidate_key", "example_id"))
        assert len(keys) == len(set(keys)) == run.calls_used - 1
        assert Candidate.objects.filter(run=run).count() == 2


def test_it_reuses_the_version_an_earlier_run_found(demo_world):
    runs = []
    for seed in (0, 1):
        run = demo_world.run(seed=seed)
        with team_scope(demo_world.team):
            optimisation_run_start(
                team=demo_world.team, actor=demo_world.alice, run=run, enqueue=False
            )
        execute(run.pk)
        with team_scope(demo_world.team):
            run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, run.error
        runs.append(run)
    with team_scope(demo_world.team):
        assert runs[0].best_candidate.version == runs[1].best_candidate.version
        assert runs[1].rounds_done == 3  # every round recorded
