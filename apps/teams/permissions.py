"""Who may do what: role permissions on the Team, API-key scopes, one check for both."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.core.errors import PermissionRefused
from apps.teams.models import PERM_ADMIN, ApiKey, ApiKeyScope

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.db import models
    from typing_extensions import TypeIs

    from apps.accounts.models import User
    from apps.teams.actors import Actor


def is_api_key(actor: object) -> TypeIs[ApiKey]:
    return isinstance(actor, ApiKey)


def actor_user(actor: Actor | None) -> User | None:
    """The person behind an actor: the signed-in user, or None for an API key or nobody."""
    if actor is None or is_api_key(actor) or not getattr(actor, "is_authenticated", False):
        return None
    return actor


def actor_can(
    actor: Actor | AnonymousUser | None, perm: str, obj: models.Model, *, scope: str | None = None
) -> bool:
    """True when `actor` (a User or an ApiKey) holds `perm` on `obj`.

    An API key acts within its scopes: the endpoint names the scope it needs, and the
    team-administration permission always needs the `admin` scope. No key is an owner:
    admins (not owners) make keys, so a key acting as owner would let an admin make
    owners (invite one, promote one) and take the team over.
    """
    if is_api_key(actor):
        if perm.endswith(".own_team"):
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
