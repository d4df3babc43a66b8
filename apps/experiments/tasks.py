"""Background work: `run_experiment` runs on `manage.py worker` (django-tasks-db).

Several workers on one PostgreSQL share the queue (SKIP LOCKED). A task is a ticket for a
turn: the worker gives the turn to the fairest queued run, which may be another team's
(apps/experiments/scheduling.py), and a run that steps aside enqueues a new ticket.
Running a run again is safe: it only runs the cells that have no stored result.
"""

from __future__ import annotations

from django_tasks import task


@task()
def run_experiment(experiment_id: int) -> dict:
    from apps.experiments.runner import run_turn

    return run_turn(experiment_id)


@task()
def score_code_experiment(experiment_id: int) -> dict:
    """Run the server-side evaluators of a code experiment on its recorded outputs."""
    from apps.experiments.runner import score_code_run

    return score_code_run(experiment_id)
