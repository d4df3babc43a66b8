"""The task worker (`manage.py worker`) survives the database's transient errors: it retries
its own bookkeeping, and a task interrupted by one runs again instead of failing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import InterfaceError, OperationalError
from django_tasks_db.models import DBTaskResult, DBTaskResultQuerySet

from apps.core import worker as worker_module
from apps.core.worker import ResilientWorker, RetryLater, is_transient
from tests.core import worker_probe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def waits(monkeypatch):
    """The worker's backoff waits, recorded instead of slept; retries become due at once."""
    recorded = []
    monkeypatch.setattr(worker_module, "_sleep", recorded.append)
    monkeypatch.setattr(worker_module, "backoff", lambda attempt: 0.0)
    worker_probe.calls.clear()
    worker_probe.faults.clear()
    yield recorded
    worker_probe.faults.clear()


def _worker(**options) -> ResilientWorker:
    defaults = dict(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    return ResilientWorker(**{**defaults, **options})


def _status(result) -> str:
    return DBTaskResult.objects.get(pk=result.id).status


def test_it_tells_transient_errors_from_the_rest():
    assert is_transient(OperationalError("database is locked"))
    assert is_transient(OperationalError("server closed the connection unexpectedly"))
    assert is_transient(OperationalError("terminating connection due to administrator command"))
    assert is_transient(InterfaceError("connection already closed"))
    assert not is_transient(OperationalError("no such table: nowhere"))
    assert not is_transient(ValueError("database is locked"))


@pytest.mark.django_db(transaction=True)
def test_it_survives_database_errors_while_claiming(monkeypatch, waits):
    result = worker_probe.flaky.enqueue("a")
    real_get_locked = DBTaskResultQuerySet.get_locked
    injected = [
        OperationalError("database is locked"),
        OperationalError("server closed the connection unexpectedly"),
        OperationalError("no such table: django_tasks_db_dbtaskresult"),
    ]

    def get_locked(self):
        if injected:
            raise injected.pop(0)
        return real_get_locked(self)

    monkeypatch.setattr(DBTaskResultQuerySet, "get_locked", get_locked)
    _worker().run()  # returns (batch mode) rather than dying
    assert _status(result) == "SUCCESSFUL"
    assert worker_probe.calls == ["a"]
    assert len(waits) == 3  # one backoff per failed claim


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_task_again_after_a_transient_error(waits):
    worker_probe.faults.extend(
        [OperationalError("database is locked"), InterfaceError("connection already closed")]
    )
    result = worker_probe.flaky.enqueue("b")
    _worker().run()
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "SUCCESSFUL"
    assert row.return_value == "done b"
    assert worker_probe.calls == ["b", "b", "b"]
    assert len(row.worker_ids) == 3


@pytest.mark.django_db(transaction=True)
def test_it_fails_a_task_on_a_lasting_error(waits):
    result = worker_probe.broken.enqueue()
    _worker().run()
    assert _status(result) == "FAILED"
    assert worker_probe.calls == ["broken"]


@pytest.mark.django_db(transaction=True)
def test_it_gives_up_after_the_retries(monkeypatch, waits):
    monkeypatch.setattr(worker_module, "TRANSIENT_TASK_RETRIES", 2)
    worker_probe.faults.extend([OperationalError("database is locked")] * 3)
    result = worker_probe.flaky.enqueue("c")
    _worker().run()
    assert _status(result) == "FAILED"
    assert len(worker_probe.calls) == 3


@pytest.mark.django_db(transaction=True)
def test_it_retries_recording_the_outcome(monkeypatch, waits):
    result = worker_probe.flaky.enqueue("d")
    real = DBTaskResult.set_successful
    failures = [OperationalError("database is locked")] * 2

    def set_successful(self, value):
        if failures:
            raise failures.pop()
        return real(self, value)

    monkeypatch.setattr(DBTaskResult, "set_successful", set_successful)
    _worker().run()
    assert _status(result) == "SUCCESSFUL"
    assert worker_probe.calls == ["d"]  # the task itself ran once
    assert len(waits) == 2


@pytest.mark.django_db(transaction=True)
def test_a_task_can_ask_to_run_later(monkeypatch):
    worker_probe.calls.clear()
    worker_probe.faults[:] = [RetryLater(3600, "not now")]
    result = worker_probe.flaky.enqueue("e")
    _worker().run()
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "READY"  # back in the queue, not failed
    assert row.run_after.timestamp() > time.time() + 3000


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_task_goes_back_to_the_queue(waits):
    worker_probe.faults.append(KeyboardInterrupt())
    result = worker_probe.flaky.enqueue("f")
    with pytest.raises(KeyboardInterrupt):
        _worker().run()
    assert _status(result) == "READY"
    _worker().run()
    assert _status(result) == "SUCCESSFUL"


# --- a real worker process against a locked SQLite database -----------------------------


def _wait_until(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_worker_process_outlives_a_locked_database(tmp_path):
    """The lock is taken while the task runs: its write meets "database is locked" (a short
    busy timeout), and so does recording the outcome. `db_worker` dies there; ours waits,
    runs the task again once the lock is gone, and goes on."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env.update(
        PROMPTYARD_VAR_DIR=str(tmp_path),
        PROMPTYARD_SQLITE_TIMEOUT="0.2",
        PROMPTYARD_TASKS_BACKEND="django_tasks_db.DatabaseBackend",
        DEBUG="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from tests.core.worker_probe import write_after; write_after.enqueue(1.5)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    database = tmp_path / "promptyard.sqlite3"
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [*manage, "worker", "--no-reload", "--no-startup-delay", "--interval", "0.1", "-v", "2"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )

    def status() -> str:
        with sqlite3.connect(database, timeout=10) as db:
            row = db.execute(f"SELECT status FROM {DBTaskResult._meta.db_table}").fetchone()
        return row[0]

    try:
        assert _wait_until(lambda: status() == "RUNNING"), log.read_text()
        locker = sqlite3.connect(database, timeout=10, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            assert _wait_until(lambda: "database is locked" in log.read_text()), log.read_text()
            time.sleep(1.0)  # the worker keeps meeting the lock meanwhile
            assert worker.poll() is None, log.read_text()
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert _wait_until(lambda: status() == "SUCCESSFUL"), log.read_text()
        assert worker.poll() is None, log.read_text()
        assert "runs again" in log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_the_worker_yields_the_cpu_to_requests(monkeypatch, settings):
    """Background work runs niced: another team's heavy experiment cannot take the CPU
    from the requests people and applications wait on."""
    from django.core.management import call_command

    from apps.core import worker as worker_module

    niced = []
    monkeypatch.setattr("os.nice", lambda n: niced.append(n) or n)
    monkeypatch.setattr(worker_module.ResilientWorker, "run", lambda self: None)
    monkeypatch.setattr(worker_module.ResilientWorker, "configure_signals", lambda self: None)
    settings.PROMPTYARD_WORKER_NICE = 5
    call_command("worker", "--max-tasks", "1")
    settings.PROMPTYARD_WORKER_NICE = 0
    call_command("worker", "--max-tasks", "1")
    assert niced == [5]
