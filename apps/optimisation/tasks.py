"""Background work: `run_optimisation` runs on the worker (django-tasks-db), like
experiments. Running it again (a resume, another worker after a kill) is safe: every stored
evaluation and reflection is read back instead of called again."""

from __future__ import annotations

from django_tasks import task


@task()
def run_optimisation(run_id: int) -> dict:
    from apps.optimisation.engine import execute  # reason: the engine imports gepa; load late

    return execute(run_id)
