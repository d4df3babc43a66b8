"""Per-prompt approvers: members granted the right to review one prompt's promotions."""

from __future__ import annotations

from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from apps.accounts.models import User
from apps.core.errors import ValidationFailed
from apps.prompts.models import PERM_APPROVE_PROMOTION, Prompt
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_ADMIN, Membership, Team
from apps.teams.permissions import is_api_key, require


def _member_user(team: Team, user: User | None) -> User:
    if user is None or is_api_key(user):
        raise ValidationFailed("Choose a member of the team.", field="user")
    # The team is named explicitly: the check holds in whatever scope the caller runs.
    if not Membership.objects.unscoped().filter(team=team, user=user).exists():
        raise ValidationFailed("Only members of the team can approve its prompts.", field="user")
    return user


@transaction.atomic
def approver_grant(*, team: Team, actor: Actor, prompt: Prompt, user: User) -> None:
    require(actor, PERM_ADMIN, team)
    _member_user(team, user)
    assign_perm(PERM_APPROVE_PROMOTION, user, prompt)
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.approver_grant",
        target=prompt,
        after={"user": user.email},
    )


@transaction.atomic
def approver_revoke(*, team: Team, actor: Actor, prompt: Prompt, user: User) -> None:
    require(actor, PERM_ADMIN, team)
    remove_perm(PERM_APPROVE_PROMOTION, user, prompt)
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.approver_revoke",
        target=prompt,
        before={"user": user.email},
    )
