"""Every read of prompts, versions, tags and promotion requests (team-scoped)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.http import HttpRequest
from guardian.shortcuts import get_objects_for_user, get_users_with_perms

from apps.accounts.models import User
from apps.core.errors import NotFound, ValidationFailed
from apps.prompts.models import (
    PERM_APPROVE_PROMOTION,
    PromotionRequest,
    PromotionStatus,
    Prompt,
    PromptVersion,
    Rollout,
    RolloutStatus,
    Tag,
    TagEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.teams.actors import Actor
from apps.teams.models import PERM_ADMIN, Membership, Role, Team
from apps.teams.permissions import actor_can, is_api_key
from apps.teams.selectors import members_in_roles, team_managers


def prompt_list(*, search: str = "") -> list[Prompt]:
    """Prompts with `tag_map` ({tag: version number}) and `version_count`, in 2 queries."""
    prompts = Prompt.objects.annotate(
        version_count=Count("versions", distinct=True), newest_number=Max("versions__number")
    ).prefetch_related(
        Prefetch(
            "tags",
            queryset=Tag.objects.select_related("version").only(
                "id", "prompt_id", "name", "version__id", "version__number", "team_id"
            ),
        )
    )
    search = (search or "").strip()
    if search:
        prompts = prompts.filter(Q(name__icontains=search) | Q(description__icontains=search))
    rows: list[Prompt] = list(prompts.order_by("name"))
    for prompt in rows:
        prompt.tag_map = {tag.name: tag.version.number for tag in prompt.tags.all()}
    return rows


PROMPT_NAMES = 500  # prompts a chain step may choose from in the editor


def prompt_names(*, exclude: str = "") -> list[str]:
    """The team's prompt names, by name (a chain editor's step choices), but `exclude`."""
    names = Prompt.objects.exclude(name=exclude).order_by("name").values_list("name", flat=True)
    return list(names[:PROMPT_NAMES])


def version_count(prompt: Prompt) -> int:
    return int(PromptVersion.objects.filter(prompt=prompt).count())


def prompt_for_field(name: Any, *, field: str) -> Prompt:
    """The prompt a request body names: unknown is a 400 naming the field, not a 404."""
    prompt = Prompt.objects.select_related("owner").filter(name=str(name)).first()
    if prompt is None:
        raise ValidationFailed(f"No prompt named {name!r}.", field=field)
    return prompt


def version_for_field(prompt: Prompt, number: int, *, field: str) -> PromptVersion:
    """The version of `prompt` a request body names: unknown is a 400 naming the field."""
    try:
        return version_get(prompt, number)
    except NotFound:
        raise ValidationFailed(f"{prompt.name} has no version {number}.", field=field) from None


def prompt_get(name: str) -> Prompt:
    prompt = Prompt.objects.select_related("owner").filter(name=name).first()
    if prompt is None:
        raise NotFound("No such prompt.")
    return prompt


def version_get(prompt: Prompt, number: int) -> PromptVersion:
    version: PromptVersion | None = (
        PromptVersion.objects.select_related("author", "parent")
        .filter(prompt=prompt, number=number)
        .first()
    )
    if version is None:
        raise NotFound("No such version.")
    version.prompt = prompt
    return version


def version_for_value(prompt: Prompt, value: Any) -> PromptVersion:
    """The version a form field or query parameter names by its number; 404 when the value
    is not a number or names no version."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound("No such version.") from None
    return version_get(prompt, number)


def version_at_tag(prompt: Prompt, tag_name: str) -> PromptVersion | None:
    tag = Tag.objects.select_related("version").filter(prompt=prompt, name=tag_name).first()
    return tag.version if tag is not None else None


def versions_of(prompt: Prompt) -> QuerySet[PromptVersion]:
    return PromptVersion.objects.select_related("author").filter(prompt=prompt).order_by("-number")


def versions_with_parents(prompt: Prompt) -> QuerySet[PromptVersion]:
    """Newest first, with what the API shows of each: its parent and prompt."""
    return versions_of(prompt).select_related("parent", "prompt")


def version_numbers(prompt: Prompt) -> list[int]:
    """Every version number, newest first, in one query whatever the count."""
    return list(versions_of(prompt).select_related(None).values_list("number", flat=True))


def tags_of(prompt: Prompt) -> list[Tag]:
    return list(Tag.objects.select_related("version").filter(prompt=prompt).order_by("name"))


def tag_is_frozen(prompt: Prompt, tag_name: str) -> bool:
    return Tag.objects.filter(prompt=prompt, name=tag_name, immutable=True).exists()


def tags_by_version(prompt: Prompt) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for tag in Tag.objects.filter(prompt=prompt).values("name", "version_id"):
        out.setdefault(tag["version_id"], []).append(tag["name"])
    return out


def tag_history(prompt: Prompt, tag_name: str | None = None) -> QuerySet[TagEvent]:
    events = TagEvent.objects.select_related(
        "from_version", "to_version", "approver", "promotion"
    ).filter(prompt=prompt)
    if tag_name is not None:
        events = events.filter(tag_name=tag_name)
    return events.order_by("-created_at", "-id")


def previous_version_ids(prompt: Prompt, tag_name: str) -> set[int]:
    """Versions this tag pointed at before (from its recorded history). Rollout steps
    served a share of traffic without moving the tag: they are no positions."""
    events = TagEvent.objects.filter(prompt=prompt, tag_name=tag_name).exclude(
        rollout_percent__lt=100
    )
    ids = set(events.values_list("to_version_id", flat=True))
    ids |= {i for i in events.values_list("from_version_id", flat=True) if i}
    return ids


def rollback_targets(prompt: Prompt, tag_name: str) -> list[PromptVersion]:
    """Versions the tag pointed at before, newest first, without its current one."""
    current = Tag.objects.filter(prompt=prompt, name=tag_name).values_list("version_id", flat=True)
    ids = previous_version_ids(prompt, tag_name) - set(current)
    return list(PromptVersion.objects.filter(pk__in=ids).order_by("-number"))


def promotions(
    *, prompt: Prompt | None = None, status: str | None = None, requester: User | None = None
) -> QuerySet[PromotionRequest]:
    qs = PromotionRequest.objects.select_related(
        "prompt", "candidate", "current_version", "requester", "reviewer"
    )
    if prompt is not None:
        qs = qs.filter(prompt=prompt)
    if status:
        qs = qs.filter(status=status)
    if requester is not None:
        qs = qs.filter(requester=requester)
    return qs.order_by("-created_at", "-id")


def promotions_closed(*, limit: int = 20) -> list[PromotionRequest]:
    """The most recently made requests that are no longer open."""
    return list(promotions().exclude(status=PromotionStatus.OPEN)[:limit])


def promotion_get(pk: int) -> PromotionRequest:
    request: PromotionRequest | None = promotions().filter(pk=pk).first()
    if request is None:
        raise NotFound("No such promotion request.")
    return request


def reviewable_prompt_ids(user: User, team: Team) -> set[int] | None:
    """Prompt ids the user may review; None means all (owners and admins)."""
    if actor_can(user, PERM_ADMIN, team):
        return None
    prompts = get_objects_for_user(
        user,
        PERM_APPROVE_PROMOTION,
        # guardian builds its query on this queryset; the team is named explicitly
        klass=Prompt.objects.unscoped().filter(team=team),
        accept_global_perms=False,
    )
    return set(prompts.values_list("pk", flat=True))


def needs_review(user: Actor | AnonymousUser | None, team: Team) -> QuerySet[PromotionRequest]:
    """Open requests this user may approve, oldest first: never their own."""
    if user is None or is_api_key(user) or not user.is_authenticated:
        return PromotionRequest.objects.none()
    qs = promotions(status=PromotionStatus.OPEN).exclude(requester=user)
    allowed = reviewable_prompt_ids(user, team)
    if allowed is not None:
        qs = qs.filter(prompt_id__in=allowed)
    return qs.order_by("created_at", "id")


def needs_review_count(request: HttpRequest) -> int:
    team = getattr(request, "team", None)
    if team is None:
        return 0
    return needs_review(request.user, team).count()


def approver_candidates(approvers: Iterable[User]) -> list[Membership]:
    """The team's members who may still be granted approval (not among `approvers`)."""
    return list(
        Membership.objects.select_related("user")
        .exclude(user__in=approvers)
        .order_by("user__email")
    )


def user_for_field(value: Any, *, field: str = "user") -> User:
    """The user a form posted by id, or ValidationFailed naming `field`. Membership is the
    service's to check: a grant outlives membership, and must stay revocable."""
    try:
        user = User.objects.filter(pk=int(value)).first()
    except (TypeError, ValueError):
        user = None
    if user is None:
        raise ValidationFailed("Choose a member.", field=field)
    return user


def approvers_of(prompt: Prompt) -> QuerySet[User]:
    """Users granted approval directly on this prompt."""
    # guardian annotates `Any | list[str]`; without attach_perms it is a user queryset.
    users = cast(
        "QuerySet[User]",
        get_users_with_perms(
            prompt,
            only_with_perms_in=["approve_promotion"],
            with_superusers=False,
            with_group_users=False,
        ),
    )
    return users.order_by("email")


# --- who can take the next step of a promotion request -------------------------------------


@dataclass(frozen=True)
class Person:
    """A member named on a request page: who may act, and why."""

    user_id: int
    name: str
    email: str
    why: str  # "owner", "admin", "editor granted approval on this prompt"
    asked: bool = False


def _requester_people(promotion: PromotionRequest) -> set[int]:
    people = {promotion.requester_id}
    key = promotion.requester_api_key
    if key is not None:
        people.add(key.created_by_id)
    return {p for p in people if p is not None}


def promotion_reviewers(promotion: PromotionRequest) -> list[Person]:
    """Who may approve or reject the request: the team's owners and admins, and members
    granted approval on its prompt; never the person who asked."""
    team = promotion.team
    asked = {a.get("user_id") for a in promotion.review_asks or [] if isinstance(a, dict)}
    excluded = _requester_people(promotion)
    people: dict[int, Person] = {}
    for membership in team_managers(team):
        user = membership.user
        if user.pk not in excluded:
            people[user.pk] = Person(
                user.pk, user.name or user.email, user.email, membership.role, user.pk in asked
            )
    granted = members_in_roles(team, [Role.EDITOR, Role.ANNOTATOR, Role.VIEWER])
    approvers = {u.pk for u in approvers_of(promotion.prompt)}
    for membership in granted:
        user = membership.user
        if user.pk in approvers and user.pk not in excluded:
            people[user.pk] = Person(
                user.pk,
                user.name or user.email,
                user.email,
                f"{membership.role} granted approval on this prompt",
                user.pk in asked,
            )
    return list(people.values())


def editors_without_approval(promotion: PromotionRequest) -> list[Person]:
    """Editors who cannot review this request: none of them was granted approval on it."""
    approvers = {u.pk for u in approvers_of(promotion.prompt)}
    excluded = _requester_people(promotion)
    return [
        Person(m.user.pk, m.user.name or m.user.email, m.user.email, m.role)
        for m in members_in_roles(promotion.team, [Role.EDITOR])
        if m.user.pk not in approvers and m.user.pk not in excluded
    ]


def people_in(team: Team, who: str) -> list[Person]:
    """The people a gate's next step names: "managers" (owners and admins), "editors"
    (editors, admins and owners), anything else nobody (the worker acts)."""
    roles = {
        "managers": [Role.OWNER, Role.ADMIN],
        "editors": [Role.OWNER, Role.ADMIN, Role.EDITOR],
    }.get(who, [])
    return [
        Person(m.user.pk, m.user.name or m.user.email, m.user.email, m.role)
        for m in (members_in_roles(team, roles) if roles else [])
    ]


# --- rollouts --------------------------------------------------------------------------


def rollouts(*, prompt: Prompt | None = None, status: str | None = None) -> QuerySet[Rollout]:
    qs = Rollout.objects.select_related("prompt", "base", "candidate", "promotion")
    if prompt is not None:
        qs = qs.filter(prompt=prompt)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def rollouts_active(*, prompt: Prompt | None = None) -> list[Rollout]:
    return list(rollouts(prompt=prompt, status=RolloutStatus.ACTIVE))


def rollout_get(pk: int) -> Rollout:
    rollout = rollouts().filter(pk=pk).first()
    if rollout is None:
        raise NotFound("No such rollout.")
    return rollout


def rollout_events(rollout: Rollout) -> QuerySet[TagEvent]:
    return (
        TagEvent.objects.select_related("from_version", "to_version", "approver")
        .filter(rollout=rollout)
        .order_by("-created_at", "-id")
    )


# --- webhooks --------------------------------------------------------------------------


def webhook_endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.order_by("-created_at", "-id"))


def webhook_endpoint_get(pk: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def webhook_deliveries(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")
