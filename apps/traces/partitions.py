"""Spans partitioned by week on PostgreSQL: the storage mechanics behind retention.

`traces_span` is declared `PARTITION BY RANGE (start_ns)` by migration 0003 (PostgreSQL
only; SQLite keeps a plain table and none of this runs). Each partition holds one week,
Monday 00:00 UTC to the next, named `traces_span_wYYYYMMDD` after its Monday; spans
outside every week (clock skew, made-up timestamps) land in `traces_span_default`.

- `partitions_create` makes the coming weeks ahead of time (the hourly retention task
  calls it), moving any rows the default partition already holds for a week into it.
- `partition_drop` removes a whole week at once: no row-by-row DELETE, no dead tuples, no
  vacuum debt. Retention (services.traces_purge_expired) drops a week once every team with
  spans in it has passed its retention, and deletes rows only for teams that share a week
  with a team that keeps it longer.

Why `start_ns` and not a new timestamp column: it is what exporters send and what the
trace page already orders by, so ingestion and every read need no change; ranges are
integers (nanoseconds since the epoch), which PostgreSQL prunes like any other.

Every index of the table, the primary key included, starts with the team: (team, id,
start_ns) and (team, trace, span_id, start_ns). A partitioned table's unique keys must hold
the partition key; that is why start_ns closes both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, models, transaction

from apps.core.distinct import column_of

TABLE = "traces_span"
DEFAULT = f"{TABLE}_default"
WEEK = timedelta(days=7)
NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class Partition:
    name: str
    lower_ns: int  # inclusive
    upper_ns: int  # exclusive

    @property
    def lower(self) -> datetime:
        return to_datetime(self.lower_ns)

    @property
    def upper(self) -> datetime:
        return to_datetime(self.upper_ns)


def to_ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def to_datetime(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def week_name(monday: datetime) -> str:
    return f"{TABLE}_w{monday:%Y%m%d}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def partitions() -> list[Partition]:
    """The weekly partitions, oldest first (the default partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
            FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE pg_inherits.inhparent = to_regclass(%s)
            """,
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match:
            found.append(Partition(name, int(match.group(1)), int(match.group(2))))
    return sorted(found, key=lambda p: p.lower_ns)


def _default_has_rows(lower_ns: int, upper_ns: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT EXISTS (SELECT 1 FROM "{DEFAULT}" WHERE start_ns >= %s AND start_ns < %s)',
            [lower_ns, upper_ns],
        )
        return cursor.fetchone()[0]


def _before_ddl() -> None:
    """DDL on the table waits for its readers and writers; better to give up and try again
    on the next run than to queue every ingest behind a long query. Deferred foreign-key
    checks of rows this transaction wrote (none, but in tests) run now: PostgreSQL refuses
    to drop or attach a table with checks pending."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def partition_create(monday: datetime) -> Partition:
    """The partition of the week starting `monday` (made if missing). Rows the default
    partition holds for that week move into it, in the same transaction."""
    lower, upper = to_ns(monday), to_ns(monday + WEEK)
    name = week_name(monday)
    with transaction.atomic():
        _before_ddl()
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
            if cursor.fetchone()[0]:
                return Partition(name, lower, upper)
            if not _default_has_rows(lower, upper):
                cursor.execute(
                    f'CREATE TABLE "{name}" PARTITION OF "{TABLE}" '
                    f"FOR VALUES FROM ({lower}) TO ({upper})"
                )
                return Partition(name, lower, upper)
            # PostgreSQL refuses a new partition while the default one holds rows of its
            # range: take them out first, then attach (its CHECK makes the attach a lookup).
            cursor.execute(
                f'CREATE TABLE "{name}" (LIKE "{TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS, '
                f"CHECK (start_ns >= {lower} AND start_ns < {upper}))"
            )
            cursor.execute(
                f'WITH moved AS (DELETE FROM "{DEFAULT}" WHERE start_ns >= %s AND start_ns < %s '
                f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
                [lower, upper],
            )
            cursor.execute(
                f'ALTER TABLE "{TABLE}" ATTACH PARTITION "{name}" '
                f"FOR VALUES FROM ({lower}) TO ({upper})"
            )
    return Partition(name, lower, upper)


def partitions_create(*, now: datetime, weeks_ahead: int = 4) -> list[Partition]:
    """This week's partition and the next `weeks_ahead`: ingestion never waits for DDL, and
    a week exists before its first span arrives."""
    monday = week_start(now)
    return [partition_create(monday + i * WEEK) for i in range(weeks_ahead + 1)]


def teams_in(partition: Partition) -> set[int]:
    """The teams with spans in `partition`: hops over its primary key (team first), one
    index descent per team, not a read of its rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE seen(team_id) AS (
                SELECT MIN(team_id) FROM "{partition.name}"
                UNION ALL
                SELECT (SELECT MIN(team_id) FROM "{partition.name}" WHERE team_id > seen.team_id)
                FROM seen WHERE seen.team_id IS NOT NULL
            )
            SELECT team_id FROM seen WHERE team_id IS NOT NULL
            """
        )
        return {row[0] for row in cursor.fetchall()}


def _referrers() -> Iterable[models.ForeignObjectRel]:
    from apps.traces.models import Span

    for rel in Span._meta.related_objects:
        if rel.on_delete is not models.SET_NULL:
            raise RuntimeError(
                f"{rel.related_model.__name__}.{rel.field.name} references spans with "
                f"on_delete={rel.on_delete}: teach partition_drop to honour it"
            )
        yield rel


def partition_drop(partition: Partition) -> None:
    """Drop a whole week of spans. Rows of other apps that name one of its spans (an
    annotation item's `span`) are set to NULL first, as Django's SET_NULL would: each is
    found by (team, id) through the partition's primary key."""
    with transaction.atomic():
        _before_ddl()
        with connection.cursor() as cursor:
            for rel in _referrers():
                qn = connection.ops.quote_name
                model = rel.related_model
                table = qn(model._meta.db_table)
                column = qn(column_of(model, rel.field.name))
                team = qn(column_of(model, "team"))
                cursor.execute(
                    f"UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL AND EXISTS "
                    f'(SELECT 1 FROM "{partition.name}" s '
                    f"WHERE s.team_id = {table}.{team} AND s.id = {table}.{column})"
                )
            cursor.execute(f'DROP TABLE "{partition.name}"')
