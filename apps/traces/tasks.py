"""Background work for traces: retention.

`traces_purge_expired` deletes, for every team, the traces (and spans) older than the
team's `trace_retention_days`. Run it periodically: the worker loop enqueues it (say
hourly) with `traces_purge_expired.enqueue()`, or cron runs `manage.py purge_traces`.
"""

from __future__ import annotations

from django_tasks import task

from apps.traces import services


@task()
def traces_purge_expired() -> dict:
    return services.traces_purge_expired()
