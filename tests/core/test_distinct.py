"""team_distinct: a team's distinct values of a column, by skipping through its index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.core.distinct import team_distinct
from apps.traces.models import Trace

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _traces(team, users):
    Trace.objects.unscoped().bulk_create(
        Trace(
            team=team, trace_id=f"{team.pk:08x}{i:024x}", start_time=NOW, end_time=NOW, user_id=user
        )
        for i, user in enumerate(users)
    )


@pytest.mark.django_db
def test_it_lists_a_teams_values_once_each_in_order_without_blanks(acme, globex):
    _traces(acme, ["", "bob", "", "alice", "bob", " ", "", "zoe"])
    _traces(globex, ["dave", ""])
    assert team_distinct(Trace, "user_id", team_id=acme.pk) == [" ", "alice", "bob", "zoe"]
    assert team_distinct(Trace, "user_id", team_id=acme.pk, limit=2) == [" ", "alice"]
    assert team_distinct(Trace, "user_id", team_id=acme.pk, skip_blank=False) == [
        "",
        " ",
        "alice",
        "bob",
        "zoe",
    ]
    assert team_distinct(Trace, "user_id", team_id=globex.pk) == ["dave"]


@pytest.mark.django_db
def test_it_finds_nothing_when_every_value_is_blank(acme):
    _traces(acme, [""] * 50)
    assert team_distinct(Trace, "user_id", team_id=acme.pk) == []
