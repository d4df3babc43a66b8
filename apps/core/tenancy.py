"""Tenancy by construction.

Every tenant row carries its own `team` FK. The default manager of a TeamOwned model
refuses to query outside `team_scope(team)` and, inside it, filters on that team; a
deliberate cross-team read says `.unscoped()` so it can be found with grep.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from django.db import models

_current_team: contextvars.ContextVar = contextvars.ContextVar("promptyard_team", default=None)


class TenancyError(RuntimeError):
    """A tenant query or write happened outside a team scope, or across teams."""


def current_team():
    return _current_team.get()


@contextmanager
def team_scope(team):
    if team is None:
        raise TenancyError("team_scope() needs a team")
    token = _current_team.set(team)
    try:
        yield team
    finally:
        _current_team.reset(token)


class TeamScopedManager(models.Manager):
    def get_queryset(self):
        team = current_team()
        if team is None:
            raise TenancyError(
                f"{self.model.__name__} queried outside team_scope(); "
                "use team_scope(team) or .unscoped() deliberately"
            )
        return super().get_queryset().filter(team_id=team.pk)

    def unscoped(self):
        return super().get_queryset()


class TeamOwned(models.Model):
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")

    objects = TeamScopedManager()

    class Meta:
        # Forward FK access (version.prompt) uses Django's plain base manager: the row
        # reached that way is already known to belong to the scope's team.
        abstract = True

    def save(self, *args, **kwargs):
        team = current_team()
        if self.team_id is None and team is not None:
            self.team = team
        if team is not None and self.team_id != team.pk:
            raise TenancyError(
                f"{type(self).__name__} of team {self.team_id} saved in another team's scope"
            )
        super().save(*args, **kwargs)
