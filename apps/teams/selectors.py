"""Every read of members, invites, API keys and the audit trail. Reads of one team run in
its scope; the few that come before any scope exists (a person's teams, an invite link)
say why they are unscoped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Case, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone

from apps.accounts.models import User
from apps.core.distinct import team_distinct
from apps.core.errors import NotFound
from apps.core.pagination import KeysetPage, estimated_count, keyset_page
from apps.teams.actors import Actor
from apps.teams.audit import actor_label
from apps.teams.models import (
    PERM_ADMIN,
    PERM_VIEW,
    ApiKey,
    AuditEvent,
    Invite,
    Membership,
    Role,
    Team,
)
from apps.teams.permissions import require

ROLE_ORDER = [Role.OWNER, Role.ADMIN, Role.EDITOR, Role.ANNOTATOR, Role.VIEWER]
INVITE_NOT_VALID = "This invite link is not valid."


# --- a person's teams (read before any team scope exists) ------------------------------


def memberships_of(user: User) -> QuerySet[Membership]:
    """The user's memberships in every team, by team name."""
    # A person's teams span tenants: this is what decides which team scope to enter.
    memberships = Membership.objects.unscoped().select_related("team")
    return memberships.filter(user=user).order_by("team__name")


def membership_for_slug(*, slug: str, user: User) -> Membership | None:
    """The user's membership in the team at `slug` (with the team), or None for outsiders."""
    # The URL names the team; the membership is the proof the user may enter its scope.
    memberships = Membership.objects.unscoped().select_related("team")
    return memberships.filter(team__slug=slug, user=user).first()


def home_membership(*, user: User, last_slug: str | None) -> Membership | None:
    """The team to open: the one the user last worked in, else the first by name."""
    memberships = list(memberships_of(user))
    chosen = next((m for m in memberships if m.team.slug == last_slug), None)
    return chosen or (memberships[0] if memberships else None)


def is_member(*, team: Team, user: User) -> bool:
    # Asked while accepting an invite, outside the invite's team scope.
    return Membership.objects.unscoped().filter(team=team, user=user).exists()


def invite_for_token(token: str) -> Invite | None:
    """The invite a link's token names (with its team), in whatever state, or None."""
    # The token is the only key a newcomer holds: no team scope exists yet.
    invites = Invite.objects.unscoped().select_related("team")
    return invites.filter(token_hash=Invite.hash_token(token)).first()


def invite_lookup(token: str) -> Invite:
    invite = invite_for_token(token)
    if invite is None:
        raise NotFound(INVITE_NOT_VALID)
    return invite


def invite_refusal(*, invite: Invite, user: User) -> str:
    """Why `user` may not accept `invite` ("" when they may): an email invite is for the
    one account whose verified address it names."""
    if invite.anyone_with_link:
        return ""
    if user.email.lower() != invite.email.lower():
        return (
            f"This invite is for {invite.email}, and you are signed in as {user.email}. "
            "Log in with the invited address to accept it."
        )
    if not user.email_verified:
        return (
            f"Verify {user.email} first: open the link we mailed to it (or send a new one), "
            "then come back to this invite."
        )
    return ""


# --- inside a team -------------------------------------------------------------------------


def members_list(*, team: Team, actor: Actor, role: str = "") -> QuerySet[Membership]:
    """The team's members, owners first; only those with `role` when given."""
    require(actor, PERM_VIEW, team, scope="admin")
    rank = Case(
        *[When(role=r, then=Value(i)) for i, r in enumerate(ROLE_ORDER)],
        output_field=IntegerField(),
    )
    members = Membership.objects.filter(team=team)
    if role:
        members = members.filter(role=role)
    return (
        members.select_related("user").annotate(role_rank=rank).order_by("role_rank", "user__email")
    )


def members_in_roles(team: Team, roles: Iterable[str]) -> list[Membership]:
    """The team's members holding one of `roles`, by rank then email: the people a page
    names when only they can take the next step (add a provider, review a promotion). Any
    member may see who they are."""
    rank: dict[str, int] = {role: i for i, role in enumerate(ROLE_ORDER)}
    members = (
        Membership.objects.unscoped()  # the team is named explicitly; pages of any member ask
        .filter(team=team, role__in=list(roles))
        .select_related("user")
    )
    return sorted(members, key=lambda m: (rank.get(m.role, 99), m.user.email))


def team_managers(team: Team) -> list[Membership]:
    """Owners and admins, owners first."""
    return members_in_roles(team, [Role.OWNER, Role.ADMIN])


def membership_get(membership_id: Any) -> Membership:
    try:
        return Membership.objects.select_related("user").get(pk=membership_id)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such member.") from None


def invite_get(invite_id: Any) -> Invite:
    try:
        return Invite.objects.get(pk=invite_id)
    except (Invite.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such invite.") from None


def api_key_get(key_id: Any) -> ApiKey:
    try:
        return ApiKey.objects.get(pk=key_id)
    except (ApiKey.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such API key.") from None


def invites_pending(*, team: Team, actor: Actor) -> QuerySet[Invite]:
    require(actor, PERM_ADMIN, team, message="Only admins can see invites.")
    return (
        Invite.objects.filter(
            team=team,
            use_count__lt=F("use_limit"),
            revoked_at=None,
            expires_at__gt=timezone.now(),
        )
        .select_related("created_by")
        .order_by("-created_at")
    )


def invites_recent(*, team: Team, actor: Actor, limit: int = 20) -> QuerySet[Invite]:
    """Accepted, revoked and expired invites, for the record."""
    require(actor, PERM_ADMIN, team, message="Only admins can see invites.")
    pending = invites_pending(team=team, actor=actor).values("pk")
    return (
        Invite.objects.filter(team=team)
        .exclude(pk__in=pending)
        .select_related("created_by", "accepted_by")
        .order_by("-created_at")[:limit]
    )


def api_keys_list(*, team: Team, actor: Actor) -> QuerySet[ApiKey]:
    """The team's keys, newest first, each with its person's role now (`member_role`: what
    narrows its scopes, ApiKey.effective_scopes)."""
    require(actor, PERM_ADMIN, team, message="Only admins can see API keys.")
    role_now = Membership.objects.filter(team=team, user_id=OuterRef("created_by_id"))
    return (
        ApiKey.objects.filter(team=team)
        .select_related("created_by", "created_with_key")
        .annotate(member_role=Subquery(role_now.values("role")[:1]))
        .order_by("-created_at")
    )


@dataclass
class AuditFilters:
    actor: str = ""  # "user:<id>", "key:<id>" or free text matched against the label
    verb: str = ""
    target_type: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @property
    def active(self) -> bool:
        return any([self.actor, self.verb, self.target_type, self.date_from, self.date_to])


def audit_events(
    *, team: Team, actor: Actor, filters: AuditFilters | None = None
) -> QuerySet[AuditEvent]:
    require(actor, PERM_ADMIN, team, message="Only admins can see the audit trail.")
    filters = filters or AuditFilters()
    events = AuditEvent.objects.filter(team=team).select_related("actor_user", "actor_api_key")
    who = filters.actor.strip()
    if who.startswith("user:") and who[5:].isdigit():
        events = events.filter(actor_user_id=int(who[5:]))
    elif who.startswith("key:") and who[4:].isdigit():
        events = events.filter(actor_api_key_id=int(who[4:]))
    elif who:
        events = events.filter(actor_label__icontains=who)
    if filters.verb:
        events = events.filter(verb=filters.verb)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    tz = timezone.get_current_timezone()
    if filters.date_from:
        events = events.filter(created_at__gte=datetime.combine(filters.date_from, time.min, tz))
    if filters.date_to and filters.date_to < date.max:  # the last day has no day after it
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, tz)
        events = events.filter(created_at__lt=end)
    return events.order_by("-created_at", "-id")


AUDIT_ORDER = ("-created_at", "-id")
AUDIT_CHOICES_MAX = 200


def audit_page(
    *,
    team: Team,
    actor: Actor,
    filters: AuditFilters | None = None,
    params: Mapping[str, Any],
    per_page: int = 50,
) -> KeysetPage:
    """A keyset page of the trail, newest first (after=/before=/from=/last=, see
    keyset_page): every filter but the free-text actor reads an index starting (team, …),
    so the last page of years of events costs what the first does; the count is the
    planner's estimate, exact when everything fits on the page."""
    events = audit_events(team=team, actor=actor, filters=filters)
    return keyset_page(
        events, order=AUDIT_ORDER, params=params, per_page=per_page, count=estimated_count(events)
    )


def audit_filter_choices(*, team: Team) -> dict[str, Any]:
    """What the filter dropdowns offer: the verbs, target types and actors seen in this team
    (index hops over distinct values, not a read of the trail; see apps.core.distinct)."""
    verbs = team_distinct(AuditEvent, "verb", team_id=team.pk, limit=AUDIT_CHOICES_MAX)
    target_types = team_distinct(
        AuditEvent, "target_type", team_id=team.pk, limit=AUDIT_CHOICES_MAX
    )
    user_ids = team_distinct(
        AuditEvent, "actor_user", team_id=team.pk, limit=AUDIT_CHOICES_MAX, skip_blank=False
    )
    key_ids = team_distinct(
        AuditEvent, "actor_api_key", team_id=team.pk, limit=AUDIT_CHOICES_MAX, skip_blank=False
    )
    # The labels events carry are these (apps.teams.audit.actor_label): read from the few
    # actors, not from their events.
    users = {
        f"user:{pk}": email
        for pk, email in User.objects.filter(pk__in=user_ids).values_list("pk", "email")
    }
    keys = {
        f"key:{key.pk}": actor_label(key)
        for key in ApiKey.objects.filter(team=team, pk__in=key_ids)
    }
    actors = sorted(users.items(), key=lambda kv: kv[1]) + sorted(
        keys.items(), key=lambda kv: kv[1]
    )
    return {"verbs": verbs, "target_types": target_types, "actors": actors}
