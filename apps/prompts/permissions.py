"""Who may review a promotion request: four eyes (two people, compared as persons, never
as keys: one person's session and keys, however made, are one pair of eyes) and the
reviewer's rights on the prompt. Predicates only; the services enforce them."""

from __future__ import annotations

from apps.prompts.models import PERM_APPROVE_PROMOTION, PromotionRequest, Prompt
from apps.teams.models import PERM_ADMIN, PERM_EDIT, PERM_VIEW
from apps.teams.permissions import actor_can, actor_person_id, is_api_key

# API-key scopes of the Hub: reading prompts, and every write to them.
READ = "prompts:read"
WRITE = "prompts:write"


def requester_person_id(request: PromotionRequest) -> int | None:
    """The person who asked, by session or by key (None: unknown, e.g. a key made before
    keys recorded their person)."""
    if request.requester_id is not None:
        return request.requester_id
    key = request.requester_api_key
    if key is not None:
        return key.created_by_id
    return None


def is_requester(actor, request: PromotionRequest) -> bool:
    """Four eyes means two people: the same key, or any actor of the same person (their
    session or any of their keys, however it was made), is the requester."""
    if is_api_key(actor) and actor.pk == request.requester_api_key_id:
        return True
    person = actor_person_id(actor)
    return person is not None and person == requester_person_id(request)


def can_review_prompt(user, team, prompt: Prompt) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not actor_can(user, PERM_VIEW, team):
        return False  # a grant outlives membership; a former member reviews nothing
    return actor_can(user, PERM_ADMIN, team) or user.has_perm(PERM_APPROVE_PROMOTION, prompt)


def review_blockers(actor, request: PromotionRequest) -> list[str]:
    """Why `actor` may not approve or reject this request (empty: they may)."""
    team = request.team
    reasons = []
    if not request.is_open:
        reasons.append(f"This request is {request.get_status_display().lower()}.")
    if is_requester(actor, request):
        reasons.append("You requested this promotion; a teammate must review it.")
    elif actor_person_id(actor) is None or requester_person_id(request) is None:
        # Two people cannot be told apart when either is unknown: refuse rather than guess.
        reasons.append(
            "It is unknown who requested this promotion; cancel it and request it again."
            if actor_person_id(actor) is not None
            else "A review needs a person; this key acts for nobody."
        )
    if is_api_key(actor):
        if not actor.has_scope("admin"):
            reasons.append("Only API keys with the admin scope may review promotions.")
    elif not can_review_prompt(actor, team, request.prompt):
        reasons.append(
            "Only team owners and admins, or people granted approval on this prompt, may review."
        )
    return reasons


def rollout_steer_blocker(actor, team, prompt: Prompt, tag_name: str) -> str | None:
    """Why `actor` may not step up or abort a rollout of the tag (None: they may). On a
    protected tag: owners, admins and people granted approval on the prompt (API keys:
    the admin scope); on others, editors."""
    if not team.is_protected_tag(tag_name):
        if actor_can(actor, PERM_EDIT, team, scope=WRITE):
            return None
        return "Only editors may steer a rollout."
    if is_api_key(actor):
        if actor_can(actor, PERM_ADMIN, team):
            return None
    elif can_review_prompt(actor, team, prompt):
        return None
    return (
        f"'{tag_name}' is protected: only owners, admins and people granted approval on "
        "this prompt may steer its rollout."
    )
