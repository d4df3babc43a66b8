"""Promotion requests: asking to move a protected tag, and the four-eyes review."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.prompts import gates
from apps.prompts.models import (
    PromotionRequest,
    PromotionStatus,
    Prompt,
    PromptVersion,
    Tag,
    TagEvent,
)
from apps.prompts.permissions import WRITE, is_requester, review_blockers
from apps.prompts.selectors import promotion_reviewers
from apps.prompts.services.rollouts import (
    _open_rollout,
    _rollout_percent_checked,
    _rollout_start_checked,
)
from apps.prompts.services.tags import (
    _apply_move,
    _key,
    _lock_prompt,
    _locked_tag,
    _refuse_frozen,
    _refuse_latest,
    _refuse_same_version,
    _tag_target,
)
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_ADMIN, PERM_EDIT, Team
from apps.teams.permissions import actor_person, require


@transaction.atomic
def promotion_request_create(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    tag_name: str,
    candidate: PromptVersion,
    description: str = "",
    evidence: list[gates.EvidenceRef] | None = None,
    rollout_percent: int | None = None,
) -> PromotionRequest:
    """Ask to move `tag_name` to `candidate`; with `rollout_percent` (1-99), ask instead to
    serve the candidate to that share of traffic (a rollout, stepped up later)."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    if rollout_percent is not None:
        rollout_percent = _rollout_percent_checked(rollout_percent)
        _rollout_start_checked(prompt, tag_name, candidate)
    _tag_target(prompt, tag_name, candidate)
    _refuse_latest(tag_name)
    evidence = gates.evidence_refs(evidence)
    gates.evidence_check(team, evidence)
    tag = Tag.objects.filter(prompt=prompt, name=tag_name).first()
    _refuse_frozen(tag)
    _refuse_same_version(tag, tag_name, candidate)
    duplicate = PromotionRequest.objects.filter(
        prompt=prompt, tag_name=tag_name, candidate=candidate, status=PromotionStatus.OPEN
    ).first()
    if duplicate is not None:
        raise Conflict(
            f"Request #{duplicate.pk} already asks to move '{tag_name}' to v{candidate.number}."
        )
    request = PromotionRequest.objects.create(
        team=team,
        prompt=prompt,
        tag_name=tag_name,
        candidate=candidate,
        current_version=tag.version if tag is not None else None,
        description=(description or "").strip(),
        evidence=evidence,
        rollout_percent=rollout_percent,
        # The person, by session or by key, and the key if one was used: four eyes
        # compares persons (apps.prompts.permissions.is_requester).
        requester=actor_person(actor),
        requester_api_key=_key(actor),
        requester_label=actor_label(actor),
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.promotion_request",
        target=request,
        after={
            "prompt": prompt.name,
            "tag": tag_name,
            "candidate": candidate.number,
            "current": tag.version.number if tag is not None else None,
            "rollout_percent": rollout_percent,
        },
    )
    return request


def _refuse_closed(request: PromotionRequest) -> None:
    if not request.is_open:
        raise Conflict(f"This request is already {request.get_status_display().lower()}.")


def _reviewer(actor: Actor) -> User | None:
    return actor_person(actor)


@transaction.atomic
def _close_or_supersede(
    *, team: Team, actor: Actor, request: PromotionRequest, comment: str, approve: bool
) -> tuple[PromotionRequest, TagEvent | None]:
    _lock_prompt(request.prompt)
    request = (
        PromotionRequest.objects.select_for_update()
        .select_related("prompt", "candidate", "team")
        .get(pk=request.pk)
    )
    _refuse_closed(request)
    blockers = review_blockers(actor, request)
    if blockers:
        raise PermissionRefused(blockers[0])
    now = timezone.now()
    request.reviewer = _reviewer(actor)
    request.reviewer_label = actor_label(actor)
    request.review_comment = comment
    request.reviewed_at = now
    request.closed_at = now
    if not approve:
        request.status = PromotionStatus.REJECTED
        request.save()
        audit_record(
            team=team,
            actor=actor,
            verb="prompt.promotion_reject",
            target=request,
            after={"comment": comment},
        )
        return request, None
    tag = _locked_tag(request.prompt, request.tag_name)
    if (tag.version_id if tag else None) != request.current_version_id:
        request.status = PromotionStatus.SUPERSEDED
        request.save()
        audit_record(
            team=team,
            actor=actor,
            verb="prompt.promotion_supersede",
            target=request,
            after={"reason": f"{request.tag_name} moved since the request was made"},
        )
        return request, None
    # A protected tag's policy may demand evidence (the registered gate); raises when missing.
    gates.approval_enforce(request)
    request.status = PromotionStatus.APPROVED
    request.save()
    requester = request.requester_api_key or request.requester
    if request.rollout_percent:
        return request, _approve_rollout(
            team=team,
            actor=actor,
            request=request,
            requester=requester,
            percent=request.rollout_percent,
            comment=comment,
        )
    event = _apply_move(
        team=team,
        actor=requester,
        prompt=request.prompt,
        tag_name=request.tag_name,
        version=request.candidate,
        reason=request.description or f"Promotion request #{request.pk}",
        approver=_reviewer(actor),
        promotion=request,
        tag=tag,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.promotion_approve",
        target=request,
        before={"version": tag.version.number if tag else None},
        after={
            "prompt": request.prompt.name,
            "tag": request.tag_name,
            "version": request.candidate.number,
            "comment": comment,
            "tag_event": event.pk,
        },
    )
    return request, event


def _approve_rollout(
    *,
    team: Team,
    actor: Actor,
    request: PromotionRequest,
    requester: Actor | None,
    percent: int,
    comment: str,
) -> TagEvent:
    """The approved request asked for a rollout: the tag stays, a share of its traffic
    goes to the candidate. Caller holds the prompt lock and the transaction."""
    tag = _rollout_start_checked(request.prompt, request.tag_name, request.candidate)
    rollout = _open_rollout(
        team=team,
        actor=requester,
        prompt=request.prompt,
        tag=tag,
        candidate=request.candidate,
        percent=percent,
        reason=request.description or f"Promotion request #{request.pk}",
        promotion=request,
        approver=_reviewer(actor),
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.promotion_approve",
        target=request,
        after={
            "prompt": request.prompt.name,
            "tag": request.tag_name,
            "version": request.candidate.number,
            "comment": comment,
            "rollout": rollout.pk,
            "rollout_percent": rollout.percent,
        },
    )
    return rollout.events.get()


def promotion_approve(
    *, team: Team, actor: Actor, promotion: PromotionRequest, comment: str = ""
) -> PromotionRequest:
    """Approve and move the tag in one transaction. Raises Conflict (after recording it)
    when the tag moved since the request was made: the request is then superseded."""
    request, event = _close_or_supersede(
        team=team, actor=actor, request=promotion, comment=(comment or "").strip(), approve=True
    )
    if request.status == PromotionStatus.SUPERSEDED:
        raise Conflict(
            f"'{request.tag_name}' moved since this request was made; the request is superseded. "
            "Request the promotion again against the current version."
        )
    return request


def promotion_reject(
    *, team: Team, actor: Actor, promotion: PromotionRequest, comment: str = ""
) -> PromotionRequest:
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed("Say why you reject the request.", field="comment")
    request, _ = _close_or_supersede(
        team=team, actor=actor, request=promotion, comment=comment, approve=False
    )
    return request


@transaction.atomic
def promotion_cancel(*, team: Team, actor: Actor, promotion: PromotionRequest) -> PromotionRequest:
    request = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
    if not is_requester(actor, request):
        require(actor, PERM_ADMIN, team, message="Only the requester or an admin may cancel.")
    else:
        require(actor, PERM_EDIT, team, scope=WRITE)
    _refuse_closed(request)
    request.status = PromotionStatus.CANCELLED
    request.closed_at = timezone.now()
    request.save(update_fields=["status", "closed_at"])
    audit_record(team=team, actor=actor, verb="prompt.promotion_cancel", target=request)
    return request


@transaction.atomic
def promotion_reviewer_assign(
    *,
    team: Team,
    actor: Actor,
    promotion: PromotionRequest,
    reviewer: User | None,
    review_url: str = "",
) -> PromotionRequest:
    """Ask a named person to review the request: it is marked in their inbox ("asked you")
    and they get an email with the link. Anyone else allowed may still review it."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    request = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
    _refuse_closed(request)
    allowed = {p.user_id: p for p in promotion_reviewers(request)}
    if reviewer is None or reviewer.pk not in allowed:
        raise ValidationFailed(
            "Ask one of the people who may review this request (owners, admins, or members "
            "granted approval on this prompt), not its requester.",
            field="reviewer",
        )
    asks = [
        a
        for a in request.review_asks or []
        if isinstance(a, dict) and a.get("user_id") != reviewer.pk
    ]
    asks.append(
        {
            "user_id": reviewer.pk,
            "email": reviewer.email,
            "asked_by": actor_label(actor),
            "at": timezone.now().isoformat(),
        }
    )
    request.review_asks = asks
    request.save(update_fields=["review_asks"])
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.promotion_reviewer_assign",
        target=request,
        after={"reviewer": reviewer.email},
    )
    subject = (
        f"{actor_label(actor)} asks you to review #{request.pk}: {request.prompt.name} "
        f"{request.tag_name} → v{request.candidate.number}"
    )
    body = f"{subject}\n\n{review_url}\n" if review_url else f"{subject}\n"
    email = reviewer.email
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email], fail_silently=True)
    )
    return request
