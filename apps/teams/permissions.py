"""Who may do what: role permissions on the Team, API-key scopes, one check for both.

Every action has a person. An API key acts for the person who created it (through any
chain of keys), with the lesser of its scopes and that person's current role in the team.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.core.errors import PermissionRefused
from apps.teams.models import PERM_ADMIN, ROLE_PERMISSIONS, ApiKey, ApiKeyScope, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db import models
    from typing_extensions import TypeIs

    from apps.accounts.models import User
    from apps.teams.actors import Actor


def is_api_key(actor: object) -> TypeIs[ApiKey]:
    return isinstance(actor, ApiKey)


def actor_user(actor: Actor | None) -> User | None:
    """The signed-in user acting, or None for an API key or nobody (see actor_person)."""
    if actor is None or is_api_key(actor) or not getattr(actor, "is_authenticated", False):
        return None
    return actor


def actor_person_id(actor: Actor | AnonymousUser | None) -> int | None:
    """The id of the person behind an actor: the user, or the person an API key acts for."""
    if actor is None:
        return None
    if is_api_key(actor):
        return actor.created_by_id
    if not getattr(actor, "is_authenticated", False):
        return None
    return actor.pk


def actor_person(actor: Actor | None) -> User | None:
    """The person behind an actor (a User), or None for nobody."""
    if is_api_key(actor):
        return actor.created_by
    return actor_user(actor)


def actor_can(
    actor: Actor | AnonymousUser | None, perm: str, obj: models.Model, *, scope: str | None = None
) -> bool:
    """True when `actor` (a User or an ApiKey) holds `perm` on `obj`.

    An API key acts within its scopes and its person's current role in the key's team:
    the role must grant `perm`, the key the `scope` the endpoint names (the team
    administration permission always needs the `admin` scope). No key is an owner:
    admins (not owners) make keys, so a key acting as owner would let an admin make
    owners (invite one, promote one) and take the team over.
    """
    if is_api_key(actor):
        if perm.endswith(".own_team"):
            return False
        if isinstance(obj, Team) and obj.pk != actor.team_id:
            return False
        role = actor.person_role
        if role is None or perm not in ROLE_PERMISSIONS.get(role, ()):
            return False
        if perm == PERM_ADMIN:
            return actor.has_scope(ApiKeyScope.ADMIN)
        return scope is None or actor.has_scope(scope)
    if actor is None or not actor.is_authenticated:
        return False
    return actor.has_perm(perm, obj)


def require(
    actor: Actor | AnonymousUser | None,
    perm: str,
    obj: models.Model,
    *,
    scope: str | None = None,
    message: str | None = None,
) -> None:
    if not actor_can(actor, perm, obj, scope=scope):
        raise PermissionRefused(message or "You do not have permission to do that.")
