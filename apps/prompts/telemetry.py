"""Fetch counters kept in memory and flushed in batches: no database write per fetch.

`record()` adds to a per-process counter keyed by (team, API key, environment, prompt,
tag, version served). `flush()` upserts the counters into FetchStat rows (adding to the
stored count). It runs when due (every PROMPTYARD_TELEMETRY_FLUSH_SECONDS, checked after
a response has been sent, on `request_finished`), at process exit (both connected in
apps.prompts.receivers), and before the Environments page reads the rows. A crash loses
at most one interval's counts.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.prompts.models import FetchStat, Prompt
from apps.teams.models import ApiKey

logger = logging.getLogger(__name__)

FLUSH_SECONDS = float(os.environ.get("PROMPTYARD_TELEMETRY_FLUSH_SECONDS", "10"))

# (team_id, api_key_id, environment, prompt_id, tag, version) -> [count, first, last]
_counters: dict[tuple, list] = {}
_lock = threading.Lock()
_flush_lock = threading.Lock()
_next_flush = time.monotonic() + FLUSH_SECONDS


def record(*, api_key, tag: str | None, served) -> None:
    """Count one fetch of every (prompt_id, version_number) in `served` by `api_key`."""
    if api_key is None:
        return  # a person browsing the API, not an application
    now = timezone.now()
    base = (api_key.team_id, api_key.pk, api_key.environment or "")
    with _lock:
        for prompt_id, number in served:
            key = (*base, prompt_id, tag or "", number)
            slot = _counters.get(key)
            if slot is None:
                _counters[key] = [1, now, now]
            else:
                slot[0] += 1
                slot[2] = now


def pending() -> int:
    with _lock:
        return sum(slot[0] for slot in _counters.values())


def flush_if_due(**kwargs) -> None:
    global _next_flush
    if time.monotonic() < _next_flush or not _counters:
        return
    _next_flush = time.monotonic() + FLUSH_SECONDS
    try:
        flush()
    except Exception:  # telemetry must never break serving
        logger.exception("Fetch telemetry flush failed")


def flush() -> int:
    """Write the counters to FetchStat; returns the number of rows upserted."""
    with _flush_lock:
        with _lock:
            batch = dict(_counters)
            _counters.clear()
        if not batch:
            return 0
        # In the order of the upsert's conflict key, whatever this process counted first:
        # two processes flushing the same rows lock them in one order, never crosswise (a
        # deadlock, which PostgreSQL detects only after deadlock_timeout, a second, with
        # every fetch waiting behind it in that process).
        rows = sorted(
            _still_existing([(*key, *slot) for key, slot in batch.items()]), key=_conflict_key
        )
        try:
            for start in range(0, len(rows), 500):
                _upsert(rows[start : start + 500])
        except IntegrityError:
            # A prompt or key was deleted since it was counted: write the rest one by one.
            for row in rows:
                try:
                    _upsert([row])
                except IntegrityError:
                    pass
        except Exception:
            _restore(batch)
            raise
        return len(rows)


def _conflict_key(row: tuple) -> tuple:
    """(api_key, environment, prompt, tag, version_number): FetchStat's unique key."""
    _team, api_key, environment, prompt, tag, version_number = row[:6]
    return (api_key, environment, prompt, tag, version_number)


def _still_existing(rows: list[tuple]) -> list[tuple]:
    """Drop counts of keys or prompts deleted since they were counted (2 small queries)."""
    key_ids = {r[1] for r in rows}
    prompt_ids = {r[3] for r in rows}
    # A flush runs outside any team scope and holds many teams' counts: a row is kept only
    # where its key and its prompt belong to its team.
    keys = set(ApiKey.objects.unscoped().filter(pk__in=key_ids).values_list("pk", "team_id"))
    # unscoped: as above
    prompts = set(Prompt.objects.unscoped().filter(pk__in=prompt_ids).values_list("pk", "team_id"))
    return [r for r in rows if (r[1], r[0]) in keys and (r[3], r[0]) in prompts]


def _restore(batch: dict) -> None:
    with _lock:
        for key, (count, first, last) in batch.items():
            slot = _counters.get(key)
            if slot is None:
                _counters[key] = [count, first, last]
            else:
                slot[0] += count
                slot[1] = min(slot[1], first)
                slot[2] = max(slot[2], last)


def _upsert(rows: list[tuple]) -> None:
    meta = FetchStat._meta
    table = connection.ops.quote_name(meta.db_table)
    # Concrete fields are those with a column; the test only narrows the type.
    col = {
        f.name: connection.ops.quote_name(f.column)
        for f in meta.concrete_fields
        if f.column is not None
    }
    columns = [
        "team",
        "api_key",
        "environment",
        "prompt",
        "tag",
        "version_number",
        "fetch_count",
        "first_fetched_at",
        "last_fetched_at",
    ]
    conflict = ", ".join(
        col[c] for c in ("api_key", "environment", "prompt", "tag", "version_number")
    )
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    last = col["last_fetched_at"]
    sql = (
        f"INSERT INTO {table} ({', '.join(col[c] for c in columns)}) VALUES "
        + ", ".join([placeholders] * len(rows))
        + f" ON CONFLICT ({conflict}) DO UPDATE SET "
        f"{col['fetch_count']} = {table}.{col['fetch_count']} + EXCLUDED.{col['fetch_count']}, "
        f"{last} = CASE WHEN EXCLUDED.{last} > {table}.{last} THEN EXCLUDED.{last} "
        f"ELSE {table}.{last} END"
    )
    params: list = []
    for row in rows:
        *head, count, first, latest = row
        params.extend([*head, count, _db_time(first), _db_time(latest)])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _db_time(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def reset() -> None:
    """Drop unflushed counters and restart the flush interval (tests)."""
    global _next_flush
    with _lock:
        _counters.clear()
    _next_flush = time.monotonic() + FLUSH_SECONDS


def flush_if_due_at_exit() -> None:
    if not _counters:
        return
    try:
        flush()
    except Exception:
        logger.exception("Fetch telemetry flush at exit failed")


def flush_now_quietly() -> None:
    try:
        flush()
    except Exception:
        logger.exception("Fetch telemetry flush failed")
