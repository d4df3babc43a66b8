"""Writes of function versions: recorded at span ingestion (apps.traces.services._write).

A span of @trace carries `promptyard.function.version` (a hash of the function's code and
the same-package functions it calls), `promptyard.function.source` (that code, bounded by
the SDK and again here) and `promptyard.function.settings`. The first span of a new hash
makes the function's next version. Numbers have no gaps or duplicates under concurrent
ingestion: both the hash and the number are unique per function, and a writer that loses
the race for a number tries the next one.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.teams.models import Team
from apps.traces.functions.fields import Seen
from apps.traces.models import FunctionVersion

ATTEMPTS = 5


def function_versions_record(*, team: Team, seen: Seen) -> int:
    """Store the versions not stored yet; returns how many were new. Runs inside the
    ingestion's transaction (each insert in a savepoint of its own)."""
    if not seen:
        return 0
    names = {name for name, _ in seen}
    known = set(
        # reason: ingestion names its team explicitly (the API key's), whatever its scope.
        FunctionVersion.objects.unscoped()
        .filter(team=team, name__in=names)
        .values_list("name", "version_hash")
    )
    created = 0
    for (name, version_hash), (source, settings) in sorted(seen.items()):
        if (name, version_hash) in known:
            continue
        for _ in range(ATTEMPTS):
            latest = (
                FunctionVersion.objects.unscoped()  # the team is explicit, as above
                .filter(team=team, name=name)
                .aggregate(n=Max("number"))["n"]
            )
            try:
                with transaction.atomic():
                    # reason: the team is explicit, as above.
                    FunctionVersion.objects.unscoped().create(
                        team=team,
                        name=name,
                        number=(latest or 0) + 1,
                        version_hash=version_hash,
                        source=source,
                        settings=settings,
                    )
                created += 1
                break
            except IntegrityError:
                # Another writer took the number, or stored this very hash: look again.
                if (
                    FunctionVersion.objects.unscoped()  # the team is explicit, as above
                    .filter(team=team, name=name, version_hash=version_hash)
                    .exists()
                ):
                    break
    return created
