"""PostgreSQL: traces_span becomes a table partitioned by week of start_ns.

Django cannot declare a partitioned table, so this migration rebuilds it in SQL and leaves
Django's model state alone: the model keeps `id` as its primary key (ids stay unique, one
sequence feeds every partition), while the database's primary key is (team_id, id,
start_ns), since every unique key of a partitioned table must hold the partition key.
Constraint and index names are kept, so later migrations find what they expect.

SQLite (and any other database) keeps the plain table: nothing happens there.
"""

from datetime import UTC, datetime, timedelta

from django.db import migrations

TABLE = "traces_span"
OLD = "traces_span_rebuilt_from"
WEEKS_BACK_MAX = 104  # older rows go to the default partition, still served and purged
WEEKS_AHEAD = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment):
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _monday(moment):
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _definitions(cursor):
    """The table's constraints (but its primary key) and plain indexes, as SQL."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f', 'c') ORDER BY contype, conname",
        [TABLE],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [TABLE, TABLE],
    )
    return constraints, cursor.fetchall()


def _rebuild(cursor, *, partitioned):
    cursor.execute(
        "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE confrelid = %s::regclass",
        [TABLE],
    )
    referencing = cursor.fetchall()
    if referencing:  # none may exist on a partitioned table (annotations 0002 drops its own)
        raise RuntimeError(f"foreign keys reference {TABLE}: {referencing}")
    constraints, indexes = _definitions(cursor)
    cursor.execute(f'ALTER TABLE "{TABLE}" RENAME TO "{OLD}"')
    partition_by = " PARTITION BY RANGE (start_ns)" if partitioned else ""
    cursor.execute(
        f'CREATE TABLE "{TABLE}" (LIKE "{OLD}" INCLUDING DEFAULTS INCLUDING IDENTITY)'
        + partition_by
    )
    if partitioned:
        cursor.execute(f'SELECT MIN(start_ns) FROM "{OLD}"')
        oldest = cursor.fetchone()[0]
        this_week = _monday(datetime.now(UTC))
        first = this_week
        if oldest is not None:
            seen = _monday(_EPOCH + timedelta(microseconds=oldest // 1000))
            first = max(min(seen, this_week), this_week - WEEKS_BACK_MAX * timedelta(days=7))
        monday = first
        while monday <= this_week + WEEKS_AHEAD * timedelta(days=7):
            upper = monday + timedelta(days=7)
            cursor.execute(
                f'CREATE TABLE "{TABLE}_w{monday:%Y%m%d}" PARTITION OF "{TABLE}" '
                f"FOR VALUES FROM ({_ns(monday)}) TO ({_ns(upper)})"
            )
            monday = upper
        cursor.execute(f'CREATE TABLE "{TABLE}_default" PARTITION OF "{TABLE}" DEFAULT')
    cursor.execute(f'INSERT INTO "{TABLE}" SELECT * FROM "{OLD}"')
    cursor.execute(f'DROP TABLE "{OLD}"')
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    sequence = cursor.fetchone()[0]
    cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{TABLE}"')
    top = cursor.fetchone()[0]
    cursor.execute("SELECT setval(%s, %s, %s)", [sequence, max(top, 1), top > 0])
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {TABLE}_id_seq")
    key = "team_id, id, start_ns" if partitioned else "id"
    cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{TABLE}_pkey" PRIMARY KEY ({key})')
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE "{TABLE}" ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        cursor.execute(definition)


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _rebuild(cursor, partitioned=True)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _rebuild(cursor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0002_team_first_indexes"),
        # Its foreign key to spans goes first: none can point into a partitioned table.
        ("annotations", "0003_queueitem_span_no_db_constraint"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
