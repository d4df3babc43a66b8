"""Tenancy by construction.

Every tenant row carries its own `team` FK. The default manager of a TeamOwned model
refuses to query outside `team_scope(team)` and, inside it, filters on that team; a
deliberate cross-team read calls the manager's `unscoped()`, with its reason in a comment,
so it can be found with grep.

A request (middleware, API base view) spans more than one call frame, so it enters and
leaves a team with `enter_team` / `leave_team`; code that fits in a block uses `team_scope`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import models

_M = TypeVar("_M", bound=models.Model)
_T = TypeVar("_T")

# Holds the Team; typed Any because core sits below teams and cannot import it.
_current_team: contextvars.ContextVar[Any] = contextvars.ContextVar("promptyard_team", default=None)


class TenancyError(RuntimeError):
    """A tenant query or write happened outside a team scope, or across teams."""


def current_team() -> Any:
    return _current_team.get()


def enter_team(team: Any) -> contextvars.Token[Any]:
    """Enter `team`'s scope until `leave_team(token)`: for scopes that outlive one block."""
    if team is None:
        raise TenancyError("enter_team() needs a team")
    return _current_team.set(team)


def leave_team(token: contextvars.Token[Any]) -> None:
    """Leave the scope `enter_team` entered, back to whatever was current before it."""
    _current_team.reset(token)


@contextmanager
def team_scope(team: _T) -> Iterator[_T]:
    if team is None:
        raise TenancyError("team_scope() needs a team")
    token = enter_team(team)
    try:
        yield team
    finally:
        leave_team(token)


class TeamScopedManager(models.Manager[_M]):
    def get_queryset(self) -> models.QuerySet[_M]:
        team = current_team()
        if team is None:
            # The message names the escape hatch for whoever meets it.
            hint = "use team_scope(team) or .unscoped() deliberately"
            raise TenancyError(f"{self.model.__name__} queried outside team_scope(); {hint}")
        return super().get_queryset().filter(team_id=team.pk)

    def unscoped(self) -> models.QuerySet[_M]:
        return super().get_queryset()


class TeamOwned(models.Model):
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")

    objects = TeamScopedManager()

    class Meta:
        # Forward FK access (version.prompt) uses Django's plain base manager: the row
        # reached that way is already known to belong to the scope's team.
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        team = current_team()
        if self.team_id is None and team is not None:
            self.team = team
        if team is not None and self.team_id != team.pk:
            raise TenancyError(
                f"{type(self).__name__} of team {self.team_id} saved in another team's scope"
            )
        super().save(*args, **kwargs)
