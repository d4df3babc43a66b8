"""Writes of promotion on evidence: a protected tag's policy, the experiments attached to a
promotion request as its evidence, and the one-click gating experiment. The gate that reads
them when a promotion is approved is apps.experiments.gate."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.datasets.models import Dataset
from apps.experiments.comparison import DEFAULT_MARGIN
from apps.experiments.gate import gate_run_problems
from apps.experiments.models import Experiment
from apps.experiments.selectors import evaluators_for_field, policy_evaluators, policy_for
from apps.experiments.services.experiments import experiment_create, experiment_start
from apps.experiments.variants import VariantSpec, policy_overrides
from apps.llm.models import ProviderConfig
from apps.prompts.models import GateRule, PromotionRequest, Prompt, TagPolicy
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_ADMIN, PERM_EDIT, ApiKeyScope, Team
from apps.teams.permissions import require


@transaction.atomic
def policy_set(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    tag_name: str,
    dataset: Dataset | None,
    evaluators: Iterable[Any] | None,
    tolerance: Any = DEFAULT_MARGIN,
    rule: str = GateRule.NONINFERIORITY,
    provider: ProviderConfig | None = None,
    model: str = "",
) -> TagPolicy:
    """Create or replace the policy of a protected tag (admins). `tolerance` is the margin;
    non-inferiority needs one above 0 ("not worse by more than 0" demands an improvement).
    `provider` and `model` run the versions saved without a model (none: the team's
    default model)."""
    require(actor, PERM_ADMIN, team, scope=ApiKeyScope.ADMIN)
    tag_name = (tag_name or "").strip()
    if not team.is_protected_tag(tag_name):
        raise ValidationFailed(
            f"'{tag_name}' is not a protected tag; only protected tags carry a policy.",
            field="tag_name",
        )
    if dataset is None or dataset.team_id != team.pk:
        raise ValidationFailed("Choose the gating dataset.", field="dataset")
    chosen = evaluators_for_field(evaluators, field="evaluators")
    if not chosen:
        raise ValidationFailed("Choose at least one evaluator.", field="evaluators")
    try:
        tolerance = float(tolerance or 0)
    except (TypeError, ValueError):
        raise ValidationFailed("The tolerance is a number.", field="tolerance") from None
    if not 0.0 <= tolerance <= 1.0:
        raise ValidationFailed(
            "The tolerance is between 0 and 1 (0.02 = two points).", field="tolerance"
        )
    if rule not in GateRule.values:
        raise ValidationFailed(f"The rule is one of {', '.join(GateRule.values)}.", field="rule")
    if rule == GateRule.NONINFERIORITY and tolerance <= 0:
        raise ValidationFailed(
            "Non-inferiority needs a margin above 0 (0.05 = five points): with 0 it would "
            "demand proof that the candidate is better.",
            field="tolerance",
        )
    model_settings = _policy_model(team, provider, model)
    policy = TagPolicy.objects.select_for_update().filter(prompt=prompt, tag_name=tag_name).first()
    before = None
    if policy is None:
        policy = TagPolicy(team=team, prompt=prompt, tag_name=tag_name)
    else:
        before = {
            "dataset": policy.dataset_id,
            "evaluators": policy.evaluators,
            "tolerance": policy.tolerance,
            "rule": policy.rule,
            "model_settings": policy.model_settings,
        }
    policy.dataset = dataset
    policy.model_settings = model_settings
    policy.evaluators = [e.pk for e in chosen]
    policy.tolerance = tolerance
    policy.rule = rule
    policy.updated_at = timezone.now()
    policy.save()
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.tag_policy_set",
        target=policy,
        before=before,
        after={
            "prompt": prompt.name,
            "tag": tag_name,
            "dataset": dataset.name,
            "evaluators": [e.name for e in chosen],
            "tolerance": tolerance,
            "rule": rule,
            "model_settings": model_settings,
        },
    )
    return policy


def _policy_model(team: Team, provider: ProviderConfig | None, model: str) -> dict[str, Any]:
    model = (model or "").strip()
    if provider is None:
        if model:
            raise ValidationFailed("Choose the provider of the policy's model.", field="provider")
        return {}
    if provider.team_id != team.pk:
        raise ValidationFailed("Unknown provider.", field="provider")
    if not model:
        if len(provider.models or []) != 1:
            raise ValidationFailed(f"Name the model to run on {provider.name}.", field="model")
        model = provider.models[0]
    if len(model) > 200:
        raise ValidationFailed("The model name is longer than 200 characters.", field="model")
    return {"provider_id": provider.pk, "model": model}


@transaction.atomic
def policy_delete(*, team: Team, actor: Actor, policy: TagPolicy) -> None:
    require(actor, PERM_ADMIN, team, scope=ApiKeyScope.ADMIN)
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.tag_policy_delete",
        target=policy,
        before={"tag": policy.tag_name, "dataset": policy.dataset_id},
    )
    policy.delete()


@transaction.atomic
def promotion_evidence_add(
    *, team: Team, actor: Actor, promotion: PromotionRequest, experiment: Experiment | None
) -> PromotionRequest:
    """Attach an experiment to an open request as its evidence (once)."""
    require(actor, PERM_EDIT, team, scope=ApiKeyScope.PROMPTS_WRITE)
    request = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
    if not request.is_open:
        raise ValidationFailed(f"This request is {request.get_status_display().lower()}.")
    if experiment is None or experiment.team_id != team.pk:
        raise ValidationFailed("Unknown experiment.", field="experiment")
    evidence = list(request.evidence or [])
    if experiment.pk not in evidence:
        evidence.append(experiment.pk)
        request.evidence = evidence
        request.save(update_fields=["evidence"])
        audit_record(
            team=team,
            actor=actor,
            verb="prompt.promotion_evidence",
            target=request,
            after={"experiment": experiment.pk},
        )
    return request


@transaction.atomic
def gating_experiment_run(*, team: Team, actor: Actor, promotion: PromotionRequest) -> Experiment:
    """Create and start the experiment the policy asks for, and attach it to the request."""
    policy = policy_for(promotion.prompt, promotion.tag_name)
    if policy is None:
        raise ValidationFailed(f"'{promotion.tag_name}' of {promotion.prompt.name} has no policy.")
    if not promotion.is_open:
        raise ValidationFailed(f"This request is {promotion.get_status_display().lower()}.")
    problems = gate_run_problems(promotion, policy)
    if problems:
        raise ValidationFailed(problems[0].action)
    evaluators = policy_evaluators(policy)
    variants = []
    current = promotion.current_version
    if current is not None:
        variants.append(
            VariantSpec(
                prompt_version=current,
                overrides=policy_overrides(policy, current),
                label=f"{promotion.tag_name} v{current.number}",
                is_baseline=True,
            )
        )
    variants.append(
        VariantSpec(
            prompt_version=promotion.candidate,
            overrides=policy_overrides(policy, promotion.candidate),
            label=f"candidate v{promotion.candidate.number}",
            is_baseline=not variants,
        )
    )
    experiment = experiment_create(
        team=team,
        actor=actor,
        name=f"Gate #{promotion.pk}: {promotion.prompt.name} v{promotion.candidate.number} "
        f"for {promotion.tag_name}",
        dataset=policy.dataset,
        variants=variants,
        evaluators=evaluators,
    )
    experiment_start(team=team, actor=actor, experiment=experiment)
    promotion_evidence_add(team=team, actor=actor, promotion=promotion, experiment=experiment)
    return experiment
