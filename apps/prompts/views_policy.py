"""Pages for promotion on evidence: tag policies (prompt settings), evidence on a promotion
request, and the one-click gating experiment. Writes go through apps.prompts.policy."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import PermissionRefused, ServiceError
from apps.prompts import policy, selectors
from apps.prompts.models import TagPolicy
from apps.teams.models import PERM_ADMIN, PERM_EDIT
from apps.teams.permissions import actor_can


def promotion_policy_context(request, promotion) -> dict:
    """Extra context of the promotion request page."""
    tag_policy = policy.policy_for(promotion.prompt, promotion.tag_name)
    evidence = policy.evidence_of(promotion, tag_policy)
    blockers = policy.approval_blockers(promotion, evidence) if promotion.is_open else []
    return {
        "tag_policy": tag_policy,
        "policy_evaluators": policy.policy_evaluators(tag_policy) if tag_policy else [],
        "evidence_items": evidence,
        "policy_blockers": blockers,
        "can_run_gate": tag_policy is not None
        and promotion.is_open
        and actor_can(request.user, PERM_EDIT, request.team),
    }


def settings_policy_context(request, prompt) -> dict:
    from apps.datasets.models import Dataset
    from apps.experiments.models import Evaluator

    return {
        "tag_policies": [(p, policy.policy_evaluators(p)) for p in policy.policies_of(prompt)],
        "policy_tags": request.team.protected_tags or [],
        "policy_datasets": Dataset.objects.order_by("name"),
        "policy_evaluator_choices": Evaluator.objects.order_by("name"),
    }


def _refuse(exc):
    if isinstance(exc, PermissionRefused):
        raise PermissionDenied(exc.message)


@require_POST
def prompt_policy(request, prompt_name):
    from apps.datasets.models import Dataset

    prompt = selectors.prompt_get(prompt_name)
    if not actor_can(request.user, PERM_ADMIN, request.team):
        raise PermissionDenied("Only owners and admins set tag policies.")
    tag_name = request.POST.get("tag_name", "")
    try:
        if request.POST.get("action") == "delete":
            found = TagPolicy.objects.filter(prompt=prompt, tag_name=tag_name).first()
            if found is not None:
                policy.policy_delete(team=request.team, actor=request.user, policy=found)
            messages.success(request, f"Policy of '{tag_name}' removed.")
        else:
            dataset_id = request.POST.get("dataset") or ""
            dataset = (
                Dataset.objects.filter(pk=dataset_id).first() if dataset_id.isdigit() else None
            )
            policy.policy_set(
                team=request.team,
                actor=request.user,
                prompt=prompt,
                tag_name=tag_name,
                dataset=dataset,
                evaluators=request.POST.getlist("evaluators"),
                tolerance=request.POST.get("tolerance") or 0,
            )
            messages.success(request, f"Policy of '{tag_name}' saved.")
    except ServiceError as exc:
        _refuse(exc)
        messages.error(request, exc.message)
    return redirect("prompts:settings", team_slug=request.team.slug, prompt_name=prompt.name)


@require_POST
def promotion_gate(request, promotion_id):
    promotion = selectors.promotion_get(promotion_id)
    try:
        experiment = policy.gating_experiment_run(
            team=request.team, actor=request.user, promotion=promotion
        )
    except ServiceError as exc:
        _refuse(exc)
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Gating experiment #{experiment.pk} queued and attached; this page shows its "
            "verdict when it completes.",
        )
    return redirect("prompts:promotion", team_slug=request.team.slug, promotion_id=promotion.pk)


@require_POST
def promotion_evidence(request, promotion_id):
    from apps.experiments.models import Experiment

    promotion = selectors.promotion_get(promotion_id)
    raw = (request.POST.get("experiment") or "").lstrip("#").strip()
    experiment = Experiment.objects.filter(pk=raw).first() if raw.isdigit() else None
    try:
        policy.promotion_evidence_attach(
            team=request.team, actor=request.user, promotion=promotion, experiment=experiment
        )
    except ServiceError as exc:
        _refuse(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Experiment #{experiment.pk} attached.")
    return redirect("prompts:promotion", team_slug=request.team.slug, promotion_id=promotion.pk)
