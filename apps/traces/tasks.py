"""Background work for traces: retention, and the guardrails of rollouts.

`traces_purge_expired` deletes, for every team, the traces (and spans) older than the
team's `trace_retention_days`. Run it periodically: the worker loop enqueues it (say
hourly) with `traces_purge_expired.enqueue()`, or cron runs `manage.py purge_traces`.

`rollout_guardrails_check` aborts running rollouts whose candidate errs more than the
current version beyond the rollout's margin, with significance; the worker loop enqueues
it every minute (apps.teams.management.commands.run_all.PERIODIC_TASKS).
"""

from __future__ import annotations

from django_tasks import task

from apps.traces import services


@task()
def traces_purge_expired() -> dict:
    return services.traces_purge_expired()


@task()
def rollout_guardrails_check() -> dict:
    return services.rollout_guardrails_run()


@task()
def trace_buckets_flush() -> int:
    """Rebuild the dashboard's stale hours (enqueued every 30 s by run_all)."""
    from apps.traces.dashboard.services import buckets_flush

    return buckets_flush()


@task()
def online_rules_run() -> dict:
    """Evaluate new traces with the teams' online rules (enqueued every 15 s by run_all)."""
    from apps.traces.online.services import online_rules_run as run

    return {str(k): v for k, v in run().items()}


@task()
def trace_export_write(export_id: int) -> int:
    """Decode and store a big OTLP export the web process accepted (apps.traces.exports)."""
    from apps.traces.exports import trace_export_write as write

    return write(export_id=export_id)
