"""The task worker (`manage.py worker`): django-tasks-db's `db_worker`, made to outlive the
database's bad moments.

`db_worker` dies on the first database error it does not expect: a task that meets
"database is locked" is marked failed, and if marking it failed meets the lock too, the
exception ends the process; a PostgreSQL restart (connection lost) ends it at the next
claim. Here:

- claiming and bookkeeping retry transient errors with exponential backoff and jitter
  (closing the broken connection first), for as long as the worker runs;
- a task that fails with a transient database error goes back to the queue and runs again
  after a backoff (up to TRANSIENT_TASK_RETRIES times), rather than being marked failed:
  tasks here are written to be run again (the experiment runner stores every cell once
  and a resumed run skips what is stored);
- a task may raise `RetryLater(seconds)` to be put back in the queue on purpose (the
  experiment scheduler does, when a team is at its concurrency cap);
- a worker forced to stop mid-task (a second Ctrl-C) puts the task back for the next one.

It takes `db_worker`'s options; `make run` (`run_all`) starts it.
"""

from __future__ import annotations

import datetime
import logging
import random
import time

from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.db import connections as db_connections
from django.utils import timezone
from django_tasks_db.compat import TaskContext, TaskResultStatus, task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

logger = logging.getLogger("apps.core.worker")

BACKOFF_BASE = 0.2  # seconds before the first retry, doubled each time
BACKOFF_CAP = 15.0
TRANSIENT_TASK_RETRIES = 20  # then the task is marked failed (a database that stays broken)
RECORD_DEADLINE = 600.0  # how long a finished task's outcome is retried before giving up
# InterfaceError (a connection already closed) is not a DatabaseError in Django's hierarchy.
DB_ERRORS = (DatabaseError, InterfaceError)

_TRANSIENT_MARKERS = (
    "locked",  # SQLite: database is locked / database table is locked
    "busy",
    "deadlock detected",
    "could not serialize access",
    "connection",  # connection refused / lost / already closed / reset
    "server closed",
    "terminating",
    "shutting down",
    "starting up",
    "in recovery mode",
    "ssl syscall",
    "eof detected",
    "timeout expired",
)


class RetryLater(Exception):  # noqa: N818 - an instruction to the worker, not an error
    """Raised by a task: put it back in the queue, to run again in `seconds`."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(reason or f"retry in {seconds:g} s")
        self.seconds = max(0.0, float(seconds))


def is_transient(exc: BaseException) -> bool:
    """A database error that passes: a lock held by another writer, a connection lost or a
    server restarting. A missing table or a bad query is not one."""
    if isinstance(exc, InterfaceError):
        return True  # the connection is closed: a new one will be opened
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1-based): exponential, capped, jittered."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def reset_connections() -> None:
    """Close every database connection (a broken one cannot roll back; a new one is opened
    on next use)."""
    for connection in db_connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - it is broken already; Django opens a new one
            connection.connection = None


_active_worker: ResilientWorker | None = None


def worker_retries_supported() -> bool:
    """Is the code running inside `manage.py worker`, which runs a task again after a
    transient error or a RetryLater? (`db_worker` and the immediate backend do not.)"""
    return _active_worker is not None


def _sleep(seconds: float) -> None:
    # One indirection so tests can record the waits.
    time.sleep(seconds)


class ResilientWorker(Worker):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._transient_attempts: dict[str, int] = {}

    def run(self) -> None:
        global _active_worker
        _active_worker = self
        try:
            self._run()
        finally:
            _active_worker = None

    def _run(self) -> None:
        logger.info("Starting worker worker_id=%s queues=%s", self.worker_id, self.queue_names)
        if self.startup_delay and self.interval:
            time.sleep(random.random())  # noqa: S311 - no thundering herd of workers
        failures = 0
        while self.running:
            try:
                task_result = self._claim()
                failures = 0
            except DB_ERRORS as exc:
                failures += 1
                self._database_trouble("claiming a task", exc, failures)
                continue
            if task_result is not None:
                try:
                    self.run_task(task_result)
                except DB_ERRORS as exc:
                    self._database_trouble("recording a task's outcome", exc, 1)
            if self.batch and task_result is None:
                logger.info("No more tasks to run for worker_id=%s - exiting.", self.worker_id)
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                logger.info("Ran %d tasks on worker=%s - exiting.", self._run_tasks, self.worker_id)
                return
            if self.running and task_result is None:
                time.sleep(self.interval)

    def _database_trouble(self, doing: str, exc: BaseException, failures: int) -> None:
        delay = backoff(failures)
        logger.warning(
            "worker %s: database error while %s (%s: %s); retrying in %.1f s",
            self.worker_id,
            doing,
            type(exc).__name__,
            exc,
            delay,
        )
        reset_connections()
        _sleep(delay)

    def _claim(self) -> DBTaskResult | None:
        close_old_connections()
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        with exclusive_transaction(tasks.db):
            task_result = tasks.get_locked()
            if task_result is not None:
                task_result.claim(self.worker_id)
        return task_result

    def _record(self, write, what: str) -> None:
        """Run a bookkeeping write until it succeeds: the task's outcome must not be lost
        to a lock held for a moment (nor the worker to the error)."""
        deadline = time.monotonic() + RECORD_DEADLINE
        attempt = 0
        while True:
            try:
                write()
                return
            except DB_ERRORS as exc:
                attempt += 1
                if time.monotonic() > deadline:
                    raise
                self._database_trouble(what, exc, attempt)

    def _requeue(self, db_task_result: DBTaskResult, seconds: float) -> None:
        run_after = timezone.now() + datetime.timedelta(seconds=seconds)

        def write():
            DBTaskResult.objects.filter(pk=db_task_result.pk).update(
                status=TaskResultStatus.READY, run_after=run_after
            )

        self._record(write, "putting a task back in the queue")

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.running_task = True
        task_id = str(db_task_result.pk)
        try:
            try:
                task = db_task_result.task
                task_result = db_task_result.task_result
                task_started.send(sender=type(task.get_backend()), task_result=task_result)
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=task_result),
                        *task_result.args,
                        **task_result.kwargs,
                    )
                else:
                    value = task.call(*task_result.args, **task_result.kwargs)
            except RetryLater as exc:
                logger.info("task %s asked to run again in %.1f s: %s", task_id, exc.seconds, exc)
                self._requeue(db_task_result, exc.seconds)
                return
            except (KeyboardInterrupt, SystemExit):
                # Forced to stop mid-task: it was not finished, so it is not failed either.
                logger.warning("task %s interrupted; it goes back to the queue", task_id)
                try:
                    DBTaskResult.objects.filter(pk=db_task_result.pk).update(
                        status=TaskResultStatus.READY, run_after=timezone.now()
                    )
                except DB_ERRORS:
                    logger.exception("task %s could not be put back in the queue", task_id)
                raise
            except DB_ERRORS as exc:
                attempts = self._transient_attempts.get(task_id, 0) + 1
                if is_transient(exc) and attempts <= TRANSIENT_TASK_RETRIES:
                    self._transient_attempts[task_id] = attempts
                    delay = backoff(attempts)
                    logger.warning(
                        "task %s met a database error (%s: %s); it runs again in %.1f s "
                        "(retry %d of %d)",
                        task_id,
                        type(exc).__name__,
                        exc,
                        delay,
                        attempts,
                        TRANSIENT_TASK_RETRIES,
                    )
                    reset_connections()
                    self._requeue(db_task_result, delay)
                    return
                self._fail(db_task_result, exc)
                return
            except Exception as exc:  # noqa: BLE001 - a failing task never stops the worker
                self._fail(db_task_result, exc)
                return
            self._transient_attempts.pop(task_id, None)
            try:
                self._record(
                    lambda: db_task_result.set_successful(value), "recording a task's success"
                )
            except DB_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. a return value JSON cannot carry
                self._fail(db_task_result, exc)
                return
            task_finished.send(
                sender=type(db_task_result.task.get_backend()),
                task_result=db_task_result.task_result,
            )
        finally:
            self.running_task = False
            self._run_tasks += 1

    def _fail(self, db_task_result: DBTaskResult, exc: BaseException) -> None:
        self._transient_attempts.pop(str(db_task_result.pk), None)
        self._record(lambda: db_task_result.set_failed(exc), "recording a task's failure")
        try:
            sender = type(db_task_result.task.get_backend())
            task_result = db_task_result.task_result
        except Exception:  # noqa: BLE001 - the task cannot even be imported
            logger.exception("Task id=%s failed unexpectedly", db_task_result.pk)
        else:
            task_finished.send(sender=sender, task_result=task_result)
