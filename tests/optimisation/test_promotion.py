"""The run ends with a promotion request of its best version, carrying the evidence."""

from __future__ import annotations

import pytest

from apps.core.errors import Conflict, PermissionRefused
from apps.core.tenancy import team_scope
from apps.optimisation.engine import execute
from apps.optimisation.services import (
    optimisation_promotion_create,
    optimisation_run_cancel,
    optimisation_run_resume,
    optimisation_run_start,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_ends_with_a_promotion_request_carrying_the_evidence(demo_world):
    run = demo_world.finished()
    with team_scope(demo_world.team):
        promotion = optimisation_promotion_create(
            team=demo_world.team, actor=demo_world.alice, run=run
        )
        run.refresh_from_db()
    assert run.promotion == promotion
    assert promotion.tag_name == "production"
    assert promotion.candidate == run.best_candidate.version
    text = promotion.description
    assert f"Optimisation run #{run.pk}" in text
    start, best = run.comparison["start"]["rate"], run.comparison["best"]["rate"]
    assert f"pass rate {start * 100:.0f} % → {best * 100:.0f} %" in text
    assert "states-order-status" in text and "not worse (shown)" in text


def test_it_refuses_promotion_by_a_viewer(demo_world, carol):
    run = demo_world.finished()
    with team_scope(demo_world.team), pytest.raises(PermissionRefused):
        optimisation_promotion_create(team=demo_world.team, actor=carol, run=run)


def test_it_cancels_a_queued_run_and_resumes_it(demo_world):
    run = demo_world.run()
    team, alice = demo_world.team, demo_world.alice
    with team_scope(team):
        optimisation_run_start(team=team, actor=alice, run=run, enqueue=False)
        optimisation_run_cancel(team=team, actor=alice, run=run)
        run.refresh_from_db()
        assert run.status == "cancelled"
        with pytest.raises(Conflict):
            optimisation_promotion_create(team=team, actor=alice, run=run)
        optimisation_run_resume(team=team, actor=alice, run=run, enqueue=False)
    execute(run.pk)
    with team_scope(team):
        run.refresh_from_db()
    assert run.status == "succeeded"
