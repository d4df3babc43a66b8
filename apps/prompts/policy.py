"""Promotion on evidence: a protected tag's policy and the experiments attached to a request.

A TagPolicy names a gating dataset, evaluators and a tolerance. With a policy, approval of a
promotion is refused unless an attached, completed experiment ran on the dataset's CURRENT
revision with both the candidate and the version now at the tag, ran every policy evaluator,
and shows the candidate not worse beyond the tolerance (apps.experiments.comparison's gate:
the same rule as `promptyard eval`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.prompts.models import PromotionRequest, Prompt, TagPolicy
from apps.teams.audit import audit_record
from apps.teams.models import PERM_ADMIN, PERM_EDIT
from apps.teams.permissions import require

WRITE = "prompts:write"


# --- policies ------------------------------------------------------------------------


def policy_for(prompt: Prompt, tag_name: str) -> TagPolicy | None:
    return (
        TagPolicy.objects.select_related("dataset").filter(prompt=prompt, tag_name=tag_name).first()
    )


def policies_of(prompt: Prompt):
    return TagPolicy.objects.select_related("dataset").filter(prompt=prompt).order_by("tag_name")


def _evaluators(ids) -> list:
    from apps.experiments.models import Evaluator

    wanted = []
    for raw in ids or []:
        try:
            wanted.append(int(raw))
        except (TypeError, ValueError):
            raise ValidationFailed("Unknown evaluator.", field="evaluators") from None
    found = {e.pk: e for e in Evaluator.objects.filter(pk__in=wanted)}
    if len(found) != len(set(wanted)):
        raise ValidationFailed("Unknown evaluator.", field="evaluators")
    return [found[i] for i in dict.fromkeys(wanted)]


def policy_evaluators(policy: TagPolicy) -> list:
    from apps.experiments.models import Evaluator

    by_id = {e.pk: e for e in Evaluator.objects.filter(pk__in=policy.evaluators or [])}
    return [by_id[i] for i in policy.evaluators or [] if i in by_id]


@transaction.atomic
def policy_set(
    *, team, actor, prompt: Prompt, tag_name: str, dataset, evaluators, tolerance=0.0
) -> TagPolicy:
    """Create or replace the policy of a protected tag (admins)."""
    require(actor, PERM_ADMIN, team, scope="admin")
    tag_name = (tag_name or "").strip()
    if not team.is_protected_tag(tag_name):
        raise ValidationFailed(
            f"'{tag_name}' is not a protected tag; only protected tags carry a policy.",
            field="tag_name",
        )
    if dataset is None or dataset.team_id != team.pk:
        raise ValidationFailed("Choose the gating dataset.", field="dataset")
    chosen = _evaluators(evaluators)
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
    policy = TagPolicy.objects.select_for_update().filter(prompt=prompt, tag_name=tag_name).first()
    before = None
    if policy is None:
        policy = TagPolicy(team=team, prompt=prompt, tag_name=tag_name)
    else:
        before = {
            "dataset": policy.dataset_id,
            "evaluators": policy.evaluators,
            "tolerance": policy.tolerance,
        }
    policy.dataset = dataset
    policy.evaluators = [e.pk for e in chosen]
    policy.tolerance = tolerance
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
        },
    )
    return policy


@transaction.atomic
def policy_delete(*, team, actor, policy: TagPolicy) -> None:
    require(actor, PERM_ADMIN, team, scope="admin")
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.tag_policy_delete",
        target=policy,
        before={"tag": policy.tag_name, "dataset": policy.dataset_id},
    )
    policy.delete()


# --- evidence ------------------------------------------------------------------------


@dataclass
class Evidence:
    """One attached experiment, judged for this request."""

    id: int
    experiment: object | None
    summary: object | None = None  # comparison Summary with the current version as reference
    rows: list = field(default_factory=list)  # candidate rows (EvaluatorSummary)
    problems: list[str] = field(default_factory=list)  # why it does not satisfy the policy
    findings: list = field(default_factory=list)  # gate findings (regressions)

    @property
    def satisfies(self) -> bool:
        return self.experiment is not None and not self.problems and not self.findings


def _variant_for(variants, version_id):
    return next((v for v in variants if v.prompt_version_id == version_id), None)


def evidence_of(promotion: PromotionRequest, policy: TagPolicy | None = None) -> list[Evidence]:
    """Each attached experiment: its candidate-vs-current summary and, under a policy, why
    it does (not) count."""
    from apps.experiments import comparison
    from apps.experiments.models import Experiment, ExperimentEvaluator, Status

    ids = [i for i in promotion.evidence or [] if isinstance(i, int)]
    experiments = {e.pk: e for e in Experiment.objects.select_related("dataset").filter(pk__in=ids)}
    policy_names = None
    if policy is not None:
        policy_ids = list(policy.evaluators or [])
    out = []
    for pk in ids:
        experiment = experiments.get(pk)
        item = Evidence(pk, experiment)
        out.append(item)
        if experiment is None:
            item.problems.append(f"Experiment #{pk} no longer exists.")
            continue
        loaded = comparison.load(experiment)
        candidate = _variant_for(loaded.variants, promotion.candidate_id)
        current = (
            _variant_for(loaded.variants, promotion.current_version_id)
            if promotion.current_version_id
            else None
        )
        if candidate is None:
            item.problems.append(
                f"Experiment #{pk} did not run the candidate v{promotion.candidate.number}."
            )
        if promotion.current_version_id and current is None:
            item.problems.append(
                f"Experiment #{pk} did not run v{promotion.current_version.number}, "
                f"the version at {promotion.tag_name}."
            )
        if candidate is not None and current is not None:
            loaded.baseline_id = current.pk
            item.summary = comparison.summarize(loaded)
            item.rows = [r for r in item.summary.rows if r.variant_id == candidate.pk]
        if policy is None:
            continue
        if experiment.dataset_id != policy.dataset_id:
            item.problems.append(
                f"Experiment #{pk} ran on {experiment.dataset.name}, not the gating dataset "
                f"{policy.dataset.name}."
            )
        elif experiment.dataset_revision != policy.dataset.current_revision:
            item.problems.append(
                f"Experiment #{pk} ran on revision {experiment.dataset_revision} of "
                f"{policy.dataset.name}; the current revision is {policy.dataset.current_revision}."
            )
        if experiment.status != Status.COMPLETED:
            item.problems.append(
                f"Experiment #{pk} is {experiment.get_status_display().lower()}, not completed."
            )
        links = {
            link.evaluator_id: link.name
            for link in ExperimentEvaluator.objects.filter(experiment=experiment)
        }
        missing = [i for i in policy_ids if i not in links]
        if missing:
            item.problems.append(f"Experiment #{pk} did not run every evaluator of the policy.")
        policy_names = [links[i] for i in policy_ids if i in links]
        if item.summary is not None and not item.problems and promotion.current_version_id:
            item.findings = comparison.gate_findings(
                item.summary, tolerance=policy.tolerance, evaluators=policy_names
            )
    return out


def approval_blockers(
    promotion: PromotionRequest, evidence: list[Evidence] | None = None
) -> list[str]:
    """Why the policy of the request's tag refuses approval now (empty: it allows it)."""
    policy = policy_for(promotion.prompt, promotion.tag_name)
    if policy is None:
        return []
    if promotion.current_version_id is None:
        return []  # nothing at the tag yet: nothing to be worse than
    if evidence is None:
        evidence = evidence_of(promotion, policy)
    if any(item.satisfies for item in evidence):
        return []
    rule = (
        f"The policy of '{promotion.tag_name}' needs an attached, completed experiment on "
        f"{policy.dataset.name} (revision {policy.dataset.current_revision}) showing "
        f"v{promotion.candidate.number} not worse than v{promotion.current_version.number}"
        + (f" by more than {policy.tolerance * 100:g} points" if policy.tolerance else "")
        + "."
    )
    reasons = [rule]
    if not evidence:
        reasons.append("No experiment is attached: run the gating experiment.")
    for item in evidence:
        reasons += item.problems
        reasons += [str(f) for f in item.findings]
    return reasons


class ApprovalBlocked(ValidationFailed):
    """The tag's policy refuses approval; the API answers 400 with `blocked_reasons`."""

    code = "approval_blocked"

    def __init__(self, reasons: list[str]):
        super().__init__("Approval is blocked: " + " ".join(reasons))
        self.reasons = reasons

    def as_dict(self) -> dict:
        return {**super().as_dict(), "blocked_reasons": self.reasons}


def enforce_policy(promotion: PromotionRequest) -> None:
    """Called by promotion_approve before the tag moves."""
    reasons = approval_blockers(promotion)
    if reasons:
        raise ApprovalBlocked(reasons)


@transaction.atomic
def promotion_evidence_attach(
    *, team, actor, promotion: PromotionRequest, experiment
) -> PromotionRequest:
    require(actor, PERM_EDIT, team, scope=WRITE)
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
def gating_experiment_run(*, team, actor, promotion: PromotionRequest):
    """Create and start the experiment the policy asks for, and attach it to the request."""
    from apps.experiments import services as experiment_services

    policy = policy_for(promotion.prompt, promotion.tag_name)
    if policy is None:
        raise ValidationFailed(f"'{promotion.tag_name}' of {promotion.prompt.name} has no policy.")
    if not promotion.is_open:
        raise ValidationFailed(f"This request is {promotion.get_status_display().lower()}.")
    evaluators = policy_evaluators(policy)
    if not evaluators:
        raise ValidationFailed("The policy's evaluators were deleted; edit the policy.")
    variants = []
    if promotion.current_version_id:
        variants.append(
            experiment_services.VariantSpec(
                prompt_version=promotion.current_version,
                label=f"{promotion.tag_name} v{promotion.current_version.number}",
                is_baseline=True,
            )
        )
    variants.append(
        experiment_services.VariantSpec(
            prompt_version=promotion.candidate,
            label=f"candidate v{promotion.candidate.number}",
            is_baseline=not variants,
        )
    )
    experiment = experiment_services.experiment_create(
        team=team,
        actor=actor,
        name=f"Gate #{promotion.pk}: {promotion.prompt.name} v{promotion.candidate.number} "
        f"for {promotion.tag_name}",
        dataset=policy.dataset,
        variants=variants,
        evaluators=evaluators,
    )
    experiment_services.experiment_start(team=team, actor=actor, experiment=experiment)
    promotion_evidence_attach(team=team, actor=actor, promotion=promotion, experiment=experiment)
    return experiment
