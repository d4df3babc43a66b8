"""Who may review a promotion request: four eyes (two people, never one person's keys)
and the reviewer's rights on the prompt. Predicates only; the services enforce them."""

from __future__ import annotations

from apps.prompts.models import PERM_APPROVE_PROMOTION, PromotionRequest, Prompt
from apps.teams.models import PERM_ADMIN, PERM_VIEW
from apps.teams.permissions import actor_can, is_api_key

# API-key scopes of the Hub: reading prompts, and every write to them.
READ = "prompts:read"
WRITE = "prompts:write"


def _person(actor) -> int | None:
    """The user id behind an actor: the user, or the creator of an API key."""
    if actor is None:
        return None
    if is_api_key(actor):
        return actor.created_by_id
    return getattr(actor, "pk", None)


def is_requester(actor, request: PromotionRequest) -> bool:
    """Same key, same person, or a key of the same person: four eyes means two people."""
    if is_api_key(actor) and actor.pk == request.requester_api_key_id:
        return True
    person = _person(actor)
    if person is None:
        return False
    requester_people = {request.requester_id}
    if request.requester_api_key_id is not None:
        requester_people.add(request.requester_api_key.created_by_id)
    return person in requester_people


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
    if is_api_key(actor):
        if not actor.has_scope("admin"):
            reasons.append("Only API keys with the admin scope may review promotions.")
    elif not can_review_prompt(actor, team, request.prompt):
        reasons.append(
            "Only team owners and admins, or people granted approval on this prompt, may review."
        )
    return reasons
