"""Promotion requests: asking to move a protected tag, the review page and its decisions,
and the reviewer's inbox."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError, ValidationFailed
from apps.core.web import refusal_as_message, role_allows, team_url
from apps.prompts import gates, selectors, services
from apps.prompts.diffing import version_diff
from apps.prompts.models import PromotionStatus
from apps.prompts.permissions import review_blockers
from apps.prompts.views.versions import DIFF_MODES
from apps.teams.models import PERM_ADMIN, PERM_EDIT
from apps.teams.refusals import require_role_for


def promotion_create(request, prompt_name, version_number):
    prompt = selectors.prompt_get(prompt_name)
    candidate = selectors.version_get(prompt, version_number)
    require_role_for(request, PERM_EDIT, "request promotions")
    tag_name = request.POST.get("tag_name") or request.GET.get("tag") or "production"
    error = None
    rollout_raw = (request.POST.get("rollout_percent") or "").strip().rstrip("%").strip()
    if request.method == "POST":
        try:
            promotion = services.promotion_request_create(
                team=request.team,
                actor=request.user,
                prompt=prompt,
                tag_name=tag_name.strip(),
                candidate=candidate,
                description=request.POST.get("description", ""),
                evidence=_evidence(request.POST.get("evidence", "")),
                rollout_percent=_rollout_percent(rollout_raw),
            )
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(
                request, f"Promotion requested: #{promotion.pk}. A reviewer will look at it."
            )
            return redirect(team_url(request, "prompts:promotion", promotion_id=promotion.pk))
    current = selectors.version_at_tag(prompt, tag_name)
    context = {
        "prompt": prompt,
        "candidate": candidate,
        "tag_name": tag_name,
        "current": current,
        "diff": version_diff(current, candidate),
        "error": error,
        "description": request.POST.get("description", ""),
        # A link may pre-fill the evidence (the playground's evaluation run).
        "evidence": request.POST.get("evidence", request.GET.get("evidence", "")),
        "rollout_percent": rollout_raw,
        "mode": "unified",
    }
    return render(request, "prompts/promotion_create.html", context)


def _rollout_percent(raw: str) -> int | None:
    """Empty: a move; else the share of traffic the rollout starts at."""
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(
            f"Rollout: {raw!r} is not a whole percentage.", field="rollout_percent"
        ) from None


def _evidence(raw: str) -> list[gates.EvidenceRef]:
    """ "12, #14 optimisation:7": experiments by number, other evidence by reference."""
    return gates.evidence_refs(raw.replace(",", " ").split())


def _evidence_links(request, ids):
    out = []
    for pk in ids:
        if not isinstance(pk, int):  # another kind's reference: its gate panel links it
            continue
        try:
            url = team_url(request, "experiments:detail", experiment_id=pk)
        except NoReverseMatch:  # the experiments app may not have its pages yet
            url = None
        out.append({"id": pk, "url": url})
    return out


def _next_step(request, promotion, gate_step) -> dict | None:
    """The one thing the open request waits for, and the people who can do it."""
    if not promotion.is_open:
        return None
    if gate_step is not None:
        people = selectors.people_in(request.team, gate_step.who)
        return {
            "action": gate_step.action,
            "people": people,
            "by_worker": not people,
            "you_can": any(p.user_id == request.user.pk for p in people),
        }
    reviewers = selectors.promotion_reviewers(promotion)
    if not reviewers:
        return {
            "action": "Nobody but the requester may review this request: an owner or admin "
            "grants approval on this prompt to a teammate (its settings page), or invites one "
            "as admin.",
            "people": selectors.people_in(request.team, "managers"),
            "you_can": role_allows(request, PERM_ADMIN),
        }
    return {
        "action": "Approve or reject it.",
        "people": reviewers,
        "you_can": any(p.user_id == request.user.pk for p in reviewers),
        "can_ask": role_allows(request, PERM_EDIT),
    }


def promotion_detail(request, promotion_id):
    promotion = selectors.promotion_get(promotion_id)
    blockers = review_blockers(request.user, promotion)
    is_requester = promotion.requester_id == request.user.pk
    tag_now = selectors.version_at_tag(promotion.prompt, promotion.tag_name)
    mode = request.GET.get("mode")
    gate_context = gates.request_page_context(request, promotion)
    context = {
        "promotion": promotion,
        "prompt": promotion.prompt,
        "diff": version_diff(promotion.current_version, promotion.candidate),
        "mode": mode if mode in DIFF_MODES else "side",
        "blockers": blockers,
        "can_review": not blockers,
        "can_cancel": promotion.is_open and (is_requester or role_allows(request, PERM_ADMIN)),
        "tag_now": tag_now,
        "moved_since": promotion.is_open
        and (tag_now.pk if tag_now else None) != promotion.current_version_id,
        "evidence": _evidence_links(request, promotion.evidence or []),
        "next_step": _next_step(request, promotion, gate_context.get("gate_next_step")),
        "editors_without_approval": selectors.editors_without_approval(promotion)
        if promotion.is_open
        else [],
        "can_admin": role_allows(request, PERM_ADMIN),
    }
    context.update(gate_context)
    return render(request, "prompts/promotion_detail.html", context)


@require_POST
def promotion_ask(request, promotion_id):
    """Ask a named reviewer to look at the request (inbox mark and an email)."""
    promotion = selectors.promotion_get(promotion_id)
    with refusal_as_message(request):
        reviewer = selectors.user_for_field(request.POST.get("reviewer"), field="reviewer")
        services.promotion_reviewer_assign(
            team=request.team,
            actor=request.user,
            promotion=promotion,
            reviewer=reviewer,
            review_url=request.build_absolute_uri(
                team_url(request, "prompts:promotion", promotion_id=promotion.pk)
            ),
        )
        messages.success(
            request, f"Asked {reviewer.name or reviewer.email} to review: it is in their inbox."
        )
    return redirect(team_url(request, "prompts:promotion", promotion_id=promotion.pk))


@require_POST
def promotion_decide(request, promotion_id, decision):
    promotion = selectors.promotion_get(promotion_id)
    comment = request.POST.get("comment", "")
    try:
        if decision == "approve":
            services.promotion_approve(
                team=request.team, actor=request.user, promotion=promotion, comment=comment
            )
            if promotion.rollout_percent:
                rollout = next(
                    r
                    for r in selectors.rollouts_active(prompt=promotion.prompt)
                    if r.tag_name == promotion.tag_name
                )
                messages.success(
                    request,
                    f"Approved: v{promotion.candidate.number} serves {rollout.percent} % of "
                    f"'{promotion.tag_name}' traffic.",
                )
                return redirect(team_url(request, "prompts:rollout", rollout_id=rollout.pk))
            messages.success(
                request,
                f"Approved: '{promotion.tag_name}' now points at v{promotion.candidate.number}.",
            )
        elif decision == "reject":
            services.promotion_reject(
                team=request.team, actor=request.user, promotion=promotion, comment=comment
            )
            messages.success(request, "Request rejected.")
        else:
            services.promotion_cancel(team=request.team, actor=request.user, promotion=promotion)
            messages.success(request, "Request cancelled.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(team_url(request, "prompts:promotion", promotion_id=promotion.pk))


def promotion_approve(request, promotion_id):
    return promotion_decide(request, promotion_id, "approve")


def promotion_reject(request, promotion_id):
    return promotion_decide(request, promotion_id, "reject")


def promotion_cancel(request, promotion_id):
    return promotion_decide(request, promotion_id, "cancel")


@require_GET
def reviews(request):
    """The reviewer's inbox, and the requests the user made."""
    needs_review = list(selectors.needs_review(request.user, request.team))
    for promotion in needs_review:
        promotion.asked_me = any(
            isinstance(a, dict) and a.get("user_id") == request.user.pk
            for a in promotion.review_asks or []
        )
    context = {
        "needs_review": needs_review,
        "mine": selectors.promotions(status=PromotionStatus.OPEN, requester=request.user),
        "recent": selectors.promotions_closed(limit=20),
    }
    return render(request, "prompts/reviews.html", context)
