"""`manage.py worker`: the background task worker (`db_worker`'s options), which retries
the database's transient errors instead of dying (apps/core/worker.py)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker

from apps.core.cpus import keep_to_background_cpus
from apps.core.worker import ResilientWorker


class Command(db_worker.Command):
    help = "Run the background task worker; transient database errors are retried."

    def handle(
        self,
        *,
        verbosity,
        queue_name,
        interval,
        batch,
        backend_name,
        startup_delay,
        reload,
        max_tasks,
        worker_id,
        exclude_queues,
        **options,
    ):
        self.configure_logging(verbosity)
        if settings.PROMPTYARD_WORKER_NICE > 0 and hasattr(os, "nice"):
            os.nice(settings.PROMPTYARD_WORKER_NICE)  # see the setting: requests come first
        keep_to_background_cpus()  # off the CPUs left to requests (apps/core/cpus.py)
        queue_names = queue_name.split(",")
        excluded = exclude_queues.split(",") if exclude_queues else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = ResilientWorker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded,
        )
        if reload and not batch:
            if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
                worker.configure_signals()  # only the reloaded child handles signals
            run_with_reloader(worker.run)
        else:
            worker.configure_signals()
            worker.run()
