"""Who may do what with annotation queues: the team role, or an API key's scope."""

from __future__ import annotations

from apps.core.errors import PermissionRefused
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT, PERM_OWN
from apps.teams.permissions import actor_can, is_api_key

# A key's scopes: reads (queues, items, verdicts) and writes (the services' requires).
READ_SCOPE = "annotations:read"
SCOPE = "annotations:write"


def can(actor, perm: str, team, *, scope: str = SCOPE) -> bool:
    """`actor_can` remembered on the actor for its lifetime (one request): object
    permissions cost two queries each and a page asks several times."""
    if is_api_key(actor) or actor is None:
        return actor_can(actor, perm, team, scope=scope)
    memo = actor.__dict__.setdefault("_annotation_perms", {})
    key = (perm, team.pk)
    if key not in memo:
        memo[key] = actor_can(actor, perm, team, scope=scope)
    return memo[key]


def can_manage(actor, team) -> bool:
    """Editors and up (and their keys with annotations:read) see every item as a manager;
    the writes of managing queues also need annotations:write (require_manage)."""
    return can(actor, PERM_EDIT, team, scope=READ_SCOPE)


def _require(actor, perm, team, message):
    if not can(actor, perm, team):
        raise PermissionRefused(message)


def require_manage(actor, team) -> None:
    _require(actor, PERM_EDIT, team, "Only editors can manage queues.")


def require_annotate(actor, team) -> None:
    _require(actor, PERM_ANNOTATE, team, "You cannot annotate in this team.")


def require_own(actor, team) -> None:
    _require(actor, PERM_OWN, team, "Only an owner decides disputed items.")
