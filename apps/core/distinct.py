"""The distinct values of a column within one team, at the cost of the values, not the rows.

`SELECT DISTINCT verb FROM audit WHERE team_id = 7` reads every one of the team's rows
(PostgreSQL has no skip scan before version 18). With an index that starts (team, column),
a recursive query hops from one value to the next: each step is MIN(column) above the last
value, one descent of the index. Filter dropdowns ("which verbs, models, actors exist")
then cost a few dozen index probes whatever the size of the table.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models


def column_of(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column, f"{name} is not a column"
    return field.column


def team_distinct(
    model: type[models.Model],
    field: str,
    *,
    team_id: int,
    limit: int = 100,
    skip_blank: bool = True,
    using: str = "default",
) -> list[Any]:
    """Up to `limit` distinct non-null values of `field` among `team_id`'s rows of `model`,
    ascending (without "" when `skip_blank`). Needs an index starting (team, field) to be
    cheap; correct without one."""
    connection = connections[using]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    column = qn(column_of(model, field))
    team = qn(column_of(model, "team"))
    # "> ''", not "<> ''": the same rows ('' sorts first in every collation), but a range
    # the index seeks past, where "<>" reads every blank row (a team that never sends a
    # user id has all of its traces there).
    blank = f" AND {column} > ''" if skip_blank else ""
    sql = f"""
        WITH RECURSIVE seen(value, n) AS (
            SELECT MIN({column}), 1 FROM {table} WHERE {team} = %s{blank}
            UNION ALL
            SELECT (SELECT MIN({column}) FROM {table} WHERE {team} = %s AND {column} > seen.value),
                   seen.n + 1
            FROM seen WHERE seen.value IS NOT NULL AND seen.n < %s
        )
        SELECT value FROM seen WHERE value IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [team_id, team_id, limit])
        return [row[0] for row in cursor.fetchall()]
