"""Pages of promotion on evidence: tag policies (on the prompt's settings page), evidence on
a promotion request, and the one-click gating experiment. They sit under the prompts URLs
(apps.experiments.gate_urls); the prompts pages show their panels through the gate that
ExperimentsConfig.ready() registers (apps.prompts.gates)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.web import refusal_as_message, role_allows, team_url
from apps.datasets.selectors import dataset_list
from apps.experiments import gate, selectors, services
from apps.experiments.comparison import DEFAULT_MARGIN
from apps.llm.selectors import provider_for_field, providers_for_team
from apps.prompts.models import GateRule
from apps.prompts.selectors import promotion_get, prompt_get
from apps.teams.models import PERM_ADMIN, PERM_EDIT
from apps.teams.refusals import require_role_for


def promotion_panel_context(request, promotion) -> dict:
    """The evidence panel of the promotion request page, and why approval is blocked."""
    tag_policy = selectors.policy_for(promotion.prompt, promotion.tag_name)
    evidence = gate.evidence_of(promotion, tag_policy)
    blockers = gate.approval_blockers(promotion, evidence) if promotion.is_open else []
    return {
        # (action, who): the prompts page names the people; see apps.experiments.gate.
        "gate_next_step": gate.next_step(promotion, tag_policy, evidence, blockers),
        "gate_template": "experiments/_promotion_evidence.html",
        "tag_policy": tag_policy,
        "policy_evaluators": selectors.policy_evaluators(tag_policy) if tag_policy else [],
        "evidence_items": evidence,
        "policy_blockers": blockers,
        "can_run_gate": tag_policy is not None
        and promotion.is_open
        and role_allows(request, PERM_EDIT),
    }


def settings_panel_context(request, prompt) -> dict:
    """The tag-policy panel of the prompt's settings page."""
    return {
        "gate_settings_template": "experiments/_policy_settings.html",
        "tag_policies": [
            (p, selectors.policy_evaluators(p), selectors.policy_power(p))
            for p in selectors.policies_of(prompt)
        ],
        "gate_rules": GateRule.choices,
        "default_margin": DEFAULT_MARGIN,
        "policy_tags": request.team.protected_tags or [],
        "policy_datasets": dataset_list(),
        "policy_evaluator_choices": selectors.evaluator_list(),
        "policy_providers": providers_for_team(),
    }


@require_POST
def prompt_policy(request, prompt_name):
    prompt = prompt_get(prompt_name)
    require_role_for(request, PERM_ADMIN, "set tag policies")
    tag_name = request.POST.get("tag_name", "")
    with refusal_as_message(request):
        if request.POST.get("action") == "delete":
            found = selectors.policy_for(prompt, tag_name)
            if found is not None:
                services.policy_delete(team=request.team, actor=request.user, policy=found)
            messages.success(request, f"Policy of '{tag_name}' removed.")
        else:
            services.policy_set(
                team=request.team,
                actor=request.user,
                prompt=prompt,
                tag_name=tag_name,
                dataset=selectors.dataset_or_none(request.POST.get("dataset")),
                evaluators=request.POST.getlist("evaluators"),
                tolerance=request.POST.get("tolerance") or 0,
                rule=request.POST.get("rule") or GateRule.NONINFERIORITY,
                provider=provider_for_field(request.POST.get("provider"), field="provider"),
                model=request.POST.get("model", ""),
            )
            messages.success(request, f"Policy of '{tag_name}' saved.")
    return redirect(team_url(request, "prompts:settings", prompt_name=prompt.name))


@require_POST
def promotion_gate_run(request, promotion_id):
    promotion = promotion_get(promotion_id)
    with refusal_as_message(request):
        experiment = services.gating_experiment_run(
            team=request.team, actor=request.user, promotion=promotion
        )
        messages.success(
            request,
            f"Gating experiment #{experiment.pk} queued and attached; this page shows its "
            "verdict when it completes.",
        )
    return redirect(team_url(request, "prompts:promotion", promotion_id=promotion.pk))


@require_POST
def promotion_evidence_add(request, promotion_id):
    promotion = promotion_get(promotion_id)
    experiment = selectors.experiment_or_none(request.POST.get("experiment"))
    with refusal_as_message(request):
        services.promotion_evidence_add(
            team=request.team, actor=request.user, promotion=promotion, experiment=experiment
        )
        messages.success(request, f"Experiment #{experiment.pk} attached.")
    return redirect(team_url(request, "prompts:promotion", promotion_id=promotion.pk))
