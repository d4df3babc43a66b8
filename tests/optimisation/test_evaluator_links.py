"""A run's evaluators are TeamOwned links (RunEvaluator), not Django's auto-created table;
the migration moves the old table's links over with their run's team."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.tenancy import TenancyError, team_scope
from apps.optimisation.models import OptimisationRun, RunEvaluator

BEFORE = [("optimisation", "0001_initial")]


def _latest():
    executor = MigrationExecutor(connection)
    return [key for key in executor.loader.graph.leaf_nodes() if key[0] == "optimisation"]


@pytest.mark.django_db(transaction=True)
def test_it_links_a_runs_evaluators_with_the_team(demo_world):
    run = demo_world.run()
    with team_scope(demo_world.team):
        links = list(RunEvaluator.objects.filter(run=run))
        assert sorted(link.evaluator_id for link in links) == sorted(
            e.pk for e in demo_world.evaluators
        )
        assert {link.team_id for link in links} == {demo_world.team.pk}
        assert set(run.evaluators.all()) == set(demo_world.evaluators)
    with pytest.raises(TenancyError):  # the links are scoped like every tenant row
        list(RunEvaluator.objects.all())


@pytest.mark.django_db(transaction=True)
def test_it_migrates_the_old_links_with_their_runs_team(demo_world):
    run = demo_world.run()
    wanted = sorted(e.pk for e in demo_world.evaluators)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)  # back: the links return to the auto-created table
    old = executor.loader.project_state(BEFORE).apps
    OldRun = old.get_model("optimisation", "OptimisationRun")
    through = OldRun._meta.get_field("evaluators").remote_field.through
    rows = through.objects.filter(optimisationrun_id=run.pk)
    assert sorted(rows.values_list("evaluator_id", flat=True)) == wanted
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(_latest())  # forward again: copied with the team
    links = RunEvaluator.objects.unscoped().filter(run_id=run.pk)  # reason: the test's check
    assert sorted(links.values_list("evaluator_id", flat=True)) == wanted
    assert set(links.values_list("team_id", flat=True)) == {demo_world.team.pk}
    with team_scope(demo_world.team):
        assert OptimisationRun.objects.get(pk=run.pk).evaluators.count() == len(wanted)
