"""Background work: `run_experiment` runs on `manage.py db_worker` (django-tasks-db).

Several workers on one PostgreSQL share the queue (SKIP LOCKED). Running a task again for
the same experiment is safe: it only runs the cells that have no stored result.
"""

from __future__ import annotations

from django_tasks import task


@task()
def run_experiment(experiment_id: int) -> dict:
    from apps.experiments.runner import execute

    return execute(experiment_id)
