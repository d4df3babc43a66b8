"""Tasks for the worker tests (importable by a worker in another process)."""

from __future__ import annotations

import time

from django.db import OperationalError, connection
from django_tasks import task

calls: list[str] = []
faults: list[BaseException] = []


@task()
def flaky(label: str) -> str:
    """Raises the next queued fault, if any, else succeeds."""
    calls.append(label)
    if faults:
        raise faults.pop(0)
    return f"done {label}"


@task()
def broken() -> None:
    calls.append("broken")
    raise OperationalError("no such table: nowhere")


@task()
def write_after(seconds: float) -> int:
    """Waits, then writes a row to a probe table: the test holds a lock meanwhile."""
    time.sleep(seconds)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS worker_probe (attempt INTEGER)")
        cursor.execute("INSERT INTO worker_probe (attempt) VALUES (1)")
        cursor.execute("SELECT COUNT(*) FROM worker_probe")
        return cursor.fetchone()[0]
