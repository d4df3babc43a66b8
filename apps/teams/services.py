"""Every write to teams, members, invites and API keys."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from apps.accounts.models import User
from apps.accounts.selectors import user_by_email
from apps.core.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from apps.core.tenancy import team_scope
from apps.core.validation import full_clean_or_raise
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.keys import API_KEY_PREFIX, api_key_hash, forget_all_api_keys
from apps.teams.models import (
    PERM_ADMIN,
    PERM_OWN,
    ROLE_PERMISSIONS,
    ApiKey,
    ApiKeyScope,
    AuditEvent,
    Invite,
    Membership,
    Role,
    Team,
    TeamRoleGroup,
)
from apps.teams.permissions import actor_person, require
from apps.teams.selectors import invite_lookup, invite_refusal, is_member, memberships_of
from apps.teams.throttles import TEAM_LIMITS
from apps.teams.validators import validate_tag_name

INVITE_LIFETIME = timedelta(days=7)


# --- teams and roles ---------------------------------------------------------------


def _role_group(team: Team, role: str) -> Group:
    # Filtered on the team given: seeding and tests call this outside the team's scope.
    groups = TeamRoleGroup.objects.unscoped().select_related("group")
    return groups.get(team=team, role=role).group


@transaction.atomic
def team_create(
    *, actor: User, name: str, slug: str, protected_tags: list[str] | None = None
) -> Team:
    team = Team(
        name=name.strip(),
        slug=slug.strip().lower(),
        protected_tags=protected_tags or ["production"],
    )
    if Team.objects.filter(slug=team.slug).exists():
        raise ValidationFailed("That slug is taken; choose another.", field="slug")
    full_clean_or_raise(team)
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError:
        raise ValidationFailed("That slug is taken; choose another.", field="slug") from None
    with team_scope(team):
        for role, perms in ROLE_PERMISSIONS.items():
            group = Group.objects.create(name=f"team:{team.pk}:{role}")
            TeamRoleGroup.objects.create(team=team, role=role, group=group)
            for perm in perms:
                assign_perm(perm, group, team)
        _membership_add(team=team, user=actor, role=Role.OWNER)
        audit_record(
            team=team,
            actor=actor,
            verb="team.create",
            target=team,
            after={"name": team.name, "slug": team.slug},
        )
    return team


def _membership_add(*, team: Team, user: User, role: str) -> Membership:
    membership = Membership.objects.create(team=team, user=user, role=role)
    user.groups.add(_role_group(team, role))
    return membership


def _is_user(actor: Actor | None) -> bool:
    # An ApiKey's pk can equal a user's pk: identity checks must compare like with like.
    return actor is not None and not isinstance(actor, ApiKey) and actor.is_authenticated


def _owner_count(team: Team) -> int:
    # Filtered on the team given, inside or outside its scope.
    return Membership.objects.unscoped().filter(team=team, role=Role.OWNER).count()


@transaction.atomic
def membership_set_role(
    *, team: Team, actor: Actor, membership: Membership, role: str
) -> Membership:
    require(actor, PERM_ADMIN, team)
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    # Only owners make or unmake owners.
    if Role.OWNER in (role, membership.role):
        require(actor, PERM_OWN, team, message="Only an owner can grant or remove the owner role.")
    # Locked by pk and the team given, inside or outside its scope.
    membership = Membership.objects.unscoped().select_for_update().get(pk=membership.pk, team=team)
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and _owner_count(team) <= 1:
        raise Conflict(
            "The last owner cannot be demoted; make someone else an owner first.", field="role"
        )
    before = {"role": membership.role}
    membership.user.groups.remove(_role_group(team, membership.role))
    membership.role = role
    membership.save(update_fields=["role"])
    membership.user.groups.add(_role_group(team, role))
    audit_record(
        team=team,
        actor=actor,
        verb="membership.role_change",
        target=membership,
        before=before,
        after={"role": role, "user": membership.user.email},
    )
    return membership


@transaction.atomic
def membership_remove(*, team: Team, actor: Actor, membership: Membership) -> None:
    # Anyone may leave a team; removing someone else takes the admin permission.
    leaving = _is_user(actor) and actor.pk == membership.user_id
    if not leaving:
        require(actor, PERM_ADMIN, team)
    # Locked by pk and the team given, inside or outside its scope.
    membership = Membership.objects.unscoped().select_for_update().get(pk=membership.pk, team=team)
    if membership.role == Role.OWNER:
        if not leaving:
            require(actor, PERM_OWN, team, message="Only an owner can remove an owner.")
        if _owner_count(team) <= 1:
            raise Conflict("The last owner cannot be removed; make someone else an owner first.")
    membership.user.groups.remove(_role_group(team, membership.role))
    audit_record(
        team=team,
        actor=actor,
        verb="membership.remove",
        target=membership,
        before={"user": membership.user.email, "role": membership.role},
    )
    # A person who leaves takes their keys along, at once and for the record.
    _api_keys_revoke_of(
        team=team, actor=actor, user=membership.user, reason=f"{membership.user} left the team"
    )
    membership.delete()


@transaction.atomic
def team_set_protected_tags(*, team: Team, actor: Actor, tags: list[str]) -> Team:
    require(actor, PERM_ADMIN, team)
    cleaned = sorted({t.strip() for t in tags if t.strip()})
    for tag in cleaned:
        validate_tag_name(tag, field="protected_tags")
    before = {"protected_tags": team.protected_tags}
    team = Team.objects.select_for_update(no_key=True).get(pk=team.pk)
    team.protected_tags = cleaned
    team.save(update_fields=["protected_tags"])
    audit_record(
        team=team,
        actor=actor,
        verb="team.protected_tags",
        target=team,
        before=before,
        after={"protected_tags": cleaned},
    )
    return team


TRACE_RETENTION_MAX_DAYS = 3650


@transaction.atomic
def team_set_trace_retention(*, team: Team, actor: Actor, days: int) -> Team:
    require(actor, PERM_ADMIN, team)
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise ValidationFailed("Enter a whole number of days.", field="trace_retention_days")
    if not 1 <= days <= TRACE_RETENTION_MAX_DAYS:
        raise ValidationFailed(
            f"Keep traces between 1 and {TRACE_RETENTION_MAX_DAYS} days.",
            field="trace_retention_days",
        )
    team = Team.objects.select_for_update(no_key=True).get(pk=team.pk)
    before = {"trace_retention_days": team.trace_retention_days}
    if before["trace_retention_days"] == days:
        return team
    team.trace_retention_days = days
    team.save(update_fields=["trace_retention_days"])
    audit_record(
        team=team,
        actor=actor,
        verb="team.trace_retention",
        target=team,
        before=before,
        after={"trace_retention_days": days},
    )
    return team


@transaction.atomic
def team_set_limits(*, team: Team, actor: Actor, limits: Mapping[str, object]) -> Team:
    """Set the team's own rate limits (apps.teams.throttles.TEAM_LIMITS), by Team field
    name; None goes back to the deployment's default. Owners only: a limit is a share of
    capacity every team draws on, and the ceiling keeps any team's share bounded."""
    require(actor, PERM_OWN, team, message="Only an owner can change the team's rate limits.")
    by_field = {limit.field: limit for limit in TEAM_LIMITS}
    cleaned: dict[str, int | None] = {}
    for field, value in limits.items():
        limit = by_field.get(field)
        if limit is None:
            raise ValidationFailed(f"Unknown limit {field!r}.", field=field)
        if value is None or value == "":
            cleaned[field] = None
            continue
        try:
            number = int(str(value))
        except (TypeError, ValueError):
            raise ValidationFailed("Enter a whole number.", field=field)
        if not 1 <= number <= limit.ceiling():
            raise ValidationFailed(
                f"{limit.label}: choose between 1 and {limit.ceiling()} "
                f"(the default is {limit.default_count()}).",
                field=field,
            )
        cleaned[field] = number
    team = Team.objects.select_for_update(no_key=True).get(pk=team.pk)
    before = {field: getattr(team, field) for field in cleaned}
    if before == cleaned:
        return team
    for field, value in cleaned.items():
        setattr(team, field, value)
    team.save(update_fields=sorted(cleaned))
    audit_record(
        team=team, actor=actor, verb="team.limits", target=team, before=before, after=cleaned
    )
    # Remembered keys carry their team (and its limits): this process looks them up
    # afresh at once, other processes within API_KEY_CACHE_SECONDS.
    transaction.on_commit(forget_all_api_keys)
    return team


# --- invites -----------------------------------------------------------------------

INVITE_LINK_LIFETIMES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
}
INVITE_LINK_DEFAULT_LIFETIME = "1d"
INVITE_LINK_MAX_USES = 50


def _invite_shape(
    *,
    actor: Actor,
    team: Team,
    email: str,
    anyone_with_link: bool,
    use_limit: int | str,
    expires_in: str,
) -> tuple[str, int, timedelta]:
    """(email, use_limit, lifetime) of a new invite, or why it may not be made."""
    if not anyone_with_link:
        if not email:
            raise ValidationFailed(
                "Enter the email address of the person you invite: only an account with "
                "that verified address can accept it.",
                field="email",
            )
        return email, 1, INVITE_LIFETIME
    require(
        actor,
        PERM_OWN,
        team,
        message="Only an owner can make an anyone-with-the-link invite.",
    )
    if email:
        raise ValidationFailed(
            "An anyone-with-the-link invite names no one: leave the email empty, or "
            "untick 'anyone with the link' to invite that address.",
            field="email",
        )
    try:
        use_limit = int(use_limit)
    except (TypeError, ValueError):
        raise ValidationFailed("Enter how many people may use the link.", field="use_limit")
    if not 1 <= use_limit <= INVITE_LINK_MAX_USES:
        raise ValidationFailed(
            f"A link admits between 1 and {INVITE_LINK_MAX_USES} people.", field="use_limit"
        )
    if expires_in not in INVITE_LINK_LIFETIMES:
        choices = ", ".join(INVITE_LINK_LIFETIMES)
        raise ValidationFailed(f"Choose how long the link works: {choices}.", field="expires_in")
    return "", use_limit, INVITE_LINK_LIFETIMES[expires_in][1]


@transaction.atomic
def invite_create(
    *,
    team: Team,
    actor: Actor,
    role: str,
    email: str = "",
    anyone_with_link: bool = False,
    use_limit: int = 1,
    expires_in: str = INVITE_LINK_DEFAULT_LIFETIME,
    accept_url_for: Callable[[str], str] | None = None,
) -> tuple[Invite, str]:
    """Returns the invite and its token; the token is shown once and stored only hashed.

    An invite is for one email address (only that verified account may accept it), unless
    an owner deliberately makes it an anyone-with-the-link invite, which then expires
    within `expires_in` and admits at most `use_limit` people."""
    require(actor, PERM_ADMIN, team)
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    if role == Role.OWNER:
        require(actor, PERM_OWN, team, message="Only an owner can invite another owner.")
    email, use_limit, lifetime = _invite_shape(
        actor=actor,
        team=team,
        email=(email or "").strip().lower(),
        anyone_with_link=bool(anyone_with_link),
        use_limit=use_limit,
        expires_in=expires_in,
    )
    token = secrets.token_urlsafe(32)
    invite = Invite(
        team=team,
        token_hash=Invite.hash_token(token),
        email=email,
        anyone_with_link=bool(anyone_with_link),
        use_limit=use_limit,
        role=role,
        # A key's invite is its person's (every action has a person).
        created_by=actor_person(actor),
        expires_at=timezone.now() + lifetime,
    )
    full_clean_or_raise(invite, exclude=["team", "created_by"])
    invite.save()
    audit_record(
        team=team,
        actor=actor,
        verb="invite.create",
        target=invite,
        after=_invite_audit(invite),
    )
    if invite.email and accept_url_for:
        url = accept_url_for(token)
        transaction.on_commit(
            lambda: send_mail(
                f"You are invited to {team.name} on Promptyard",
                f"Join {team.name} as {role}: {url}\n"
                f"The invite is for {invite.email}: sign up or log in with this address "
                "(verified) to accept it. The link works once and expires in 7 days.",
                settings.DEFAULT_FROM_EMAIL,
                [invite.email],
                fail_silently=True,
            )
        )
    return invite, token


def _invite_audit(invite: Invite) -> dict[str, str | int]:
    """What the audit trail says of an invite: who it is for, or that it is anyone's."""
    details: dict[str, str | int] = {
        "role": invite.role,
        "expires_at": invite.expires_at.isoformat(),
    }
    if invite.anyone_with_link:
        details.update(for_whom="anyone with the link", use_limit=invite.use_limit)
    else:
        details.update(for_whom=invite.email, email=invite.email)
    return details


@transaction.atomic
def invite_accept(*, token: str, user: User) -> Membership:
    """Join the invite's team. An email invite admits only the signed-in account whose
    verified address it names; an anyone-with-the-link one anyone, until its uses run out."""
    invite = invite_lookup(token)
    # The invitee is not in the team yet: there is no team scope to be in.
    invite = Invite.objects.unscoped().select_for_update().get(pk=invite.pk)
    if not invite.is_usable:
        raise Conflict("This invite has expired or was already used. Ask for a new link.")
    refusal = invite_refusal(invite=invite, user=user)
    if refusal:
        raise PermissionRefused(refusal)
    team = invite.team
    if is_member(team=team, user=user):
        raise Conflict(f"You are already a member of {team.name}.")
    invite.use_count += 1
    invite.accepted_by = user
    invite.accepted_at = timezone.now()
    invite.save(update_fields=["use_count", "accepted_by", "accepted_at"])
    with team_scope(team):
        membership = _membership_add(team=team, user=user, role=invite.role)
        audit_record(
            team=team,
            actor=user,
            verb="invite.accept",
            target=membership,
            after={
                "role": invite.role,
                "invite": invite.pk,
                "for_whom": _invite_audit(invite)["for_whom"],
                "uses": f"{invite.use_count} of {invite.use_limit}",
            },
        )
    return membership


@transaction.atomic
def invite_revoke(*, team: Team, actor: Actor, invite: Invite) -> None:
    require(actor, PERM_ADMIN, team)
    if invite.team_id != team.pk:
        raise NotFound("No such invite.")
    if invite.is_used_up:
        raise Conflict("This invite was already used; remove the member instead.")
    if invite.revoked_at is not None:
        return
    invite.revoked_at = timezone.now()
    invite.save(update_fields=["revoked_at"])
    audit_record(
        team=team,
        actor=actor,
        verb="invite.revoke",
        target=invite,
        before=_invite_audit(invite),
    )


# --- API keys ----------------------------------------------------------------------


@transaction.atomic
def api_key_create(
    *, team: Team, actor: Actor, name: str, scopes: list[str], environment: str = ""
) -> tuple[ApiKey, str]:
    """Returns the key row and the full secret, which is never stored or shown again."""
    require(actor, PERM_ADMIN, team)
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the key a name.", field="name")
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if unknown:
        raise ValidationFailed(f"Unknown scope {unknown[0]!r}.", field="scopes")
    if not scopes:
        raise ValidationFailed("Choose at least one scope.", field="scopes")
    # The new key acts for the same person as its maker: a key made with a key belongs to
    # that key's person (four-eyes compares persons; a person's keys leave with them).
    person = actor_person(actor)
    if person is None:
        raise PermissionRefused("An API key must belong to a person.")
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        team=team,
        name=name,
        prefix=prefix,
        hashed_key=api_key_hash(raw),
        scopes=sorted(set(scopes)),
        environment=environment.strip(),
        created_by=person,
        created_with_key=actor if isinstance(actor, ApiKey) else None,
    )
    full_clean_or_raise(key, exclude=["team", "created_by", "created_with_key"])
    key.save()
    audit_record(
        team=team,
        actor=actor,
        verb="api_key.create",
        target=key,
        after={
            "name": key.name,
            "scopes": key.scopes,
            "environment": key.environment,
            "person": person.email,
        },
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, team: Team, actor: Actor, key: ApiKey) -> ApiKey:
    require(actor, PERM_ADMIN, team)
    if key.team_id != team.pk:
        raise NotFound("No such API key.")
    if key.revoked_at is None:
        person = actor_person(actor)
        _revoke(team=team, actor=actor, key=key, reason=f"{person} revoked it" if person else "")
    return key


def _revoke(*, team: Team, actor: Actor, key: ApiKey, reason: str) -> None:
    key.revoked_at = timezone.now()
    key.revoked_reason = reason[:200]
    # save() also makes this process forget the key at once (TeamsConfig.ready()).
    key.save(update_fields=["revoked_at", "revoked_reason"])
    audit_record(
        team=team,
        actor=actor,
        verb="api_key.revoke",
        target=key,
        after={"reason": key.revoked_reason},
    )


def _api_keys_revoke_of(*, team: Team, actor: Actor, user: User, reason: str) -> list[ApiKey]:
    """Revoke every active key `user` has in `team` (inside the caller's transaction)."""
    keys = list(
        # Filtered on the team given, inside or outside its scope.
        ApiKey.objects.unscoped()
        .select_for_update()
        .filter(team=team, created_by=user, revoked_at__isnull=True)
    )
    for key in keys:
        _revoke(team=team, actor=actor, key=key, reason=reason)
    return keys


# --- sign-in lockouts --------------------------------------------------------------


@transaction.atomic
def account_lockout_record(
    *, email: str, door: str, ip_address: str | None, scope: list[str], minutes: int
) -> list[AuditEvent]:
    """A sign-in (or password-reset) door just closed on an account after repeated failures:
    say so in the audit trail of every team the account belongs to, where its admins look.
    An address with no account belongs to no team; axes keeps that lockout on its own."""
    user = user_by_email(email)
    if user is None:
        return []
    details = {
        "door": door,
        "email": user.email,
        "ip_address": ip_address or "",
        "locked": " and ".join(scope) or "account",
        "locked_for_minutes": minutes,
    }
    return [
        audit_record(
            team=membership.team, actor=None, verb="account.lockout", target=user, after=details
        )
        for membership in memberships_of(user)
    ]
