"""The CI evaluation behind `promptyard eval`: the candidate (a version, a template file
saved as one, or the baseline itself on another model) against the version at a tag, on a
dataset, estimated, created and started in one write."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from apps.core.errors import NotFound, ValidationFailed
from apps.datasets.selectors import dataset_for_field, dataset_get_by_name
from apps.experiments import estimates, selectors
from apps.experiments.estimates import Estimate
from apps.experiments.models import Experiment
from apps.experiments.services.experiments import experiment_create, experiment_start
from apps.experiments.variants import VariantSpec
from apps.prompts import content as prompt_content
from apps.prompts import selectors as prompt_selectors
from apps.prompts import services as prompt_services
from apps.prompts.models import Prompt, PromptVersion
from apps.teams.actors import Actor
from apps.teams.models import Team

# max_cost as the API's DecimalField gives it, or as typed elsewhere.
MaxCost = Decimal | str | float | None


@dataclass
class CIEvaluation:
    experiment: Experiment
    baseline: PromptVersion
    candidate: PromptVersion
    model: str  # the model the candidate runs on
    estimate: Estimate
    evaluator_names: list[str]


def _candidate(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    baseline: PromptVersion,
    version: int | None,
    template: str | None,
) -> PromptVersion:
    if version is not None:
        return prompt_selectors.version_get(prompt, version)
    if template is None:
        return baseline  # a model swap: the version at the tag on another model
    if baseline.kind != "text":
        raise ValidationFailed(
            "A template file can only replace a text prompt; push a version instead.",
            field="candidate_template",
        )
    digest = prompt_content.content_hash(
        kind="text",
        template=template,
        messages=[],
        variables_schema=baseline.variables_schema or {},
        model_settings=prompt_content.normalize_model_settings(baseline.model_settings),
    )
    # The same file again (another CI run) reuses its version instead of failing.
    existing = selectors.prompt_version_with_hash(prompt, digest)
    if existing is not None:
        return existing
    return prompt_services.version_create(
        team=team,
        actor=actor,
        prompt=prompt,
        kind="text",
        template=template,
        variables_schema=baseline.variables_schema or {},
        model_settings=baseline.model_settings or {},
        commit_message="CI candidate",
        parent=baseline,
    )


def _max_cost(raw: MaxCost) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ValidationFailed("max_cost must be a number of dollars.", field="max_cost") from None
    if not value.is_finite() or value <= 0:
        raise ValidationFailed("max_cost must be above 0.", field="max_cost")
    return value


@transaction.atomic
def ci_evaluation_start(
    *,
    team: Team,
    actor: Actor,
    prompt_name: str,
    dataset_ref: str,
    baseline_tag: str = "production",
    candidate_version: int | None = None,
    candidate_template: str | None = None,
    evaluator_names: list[str] | None = None,
    name: str = "",
    concurrency: int = 8,
    model: str = "",
    max_cost: MaxCost = None,
) -> CIEvaluation:
    """Estimate, then create and start the CI experiment. With `max_cost` the run is capped
    there and refused up front when its estimate already exceeds it; with `model` the
    candidate runs on that model (alone: the baseline version on it, a model swap)."""
    prompt = prompt_selectors.prompt_for_field(prompt_name, field="prompt")
    baseline = prompt_selectors.version_at_tag(prompt, baseline_tag)
    if baseline is None:
        raise ValidationFailed(f"{prompt.name} has no tag {baseline_tag!r}.", field="baseline_tag")
    ref = dataset_ref or ""
    # A body's id (or name) is a field: unknown, or another team's, is a 400 naming it.
    if ref.isdigit():
        dataset = dataset_for_field(ref, field="dataset")
    else:
        try:
            dataset = dataset_get_by_name(ref)
        except NotFound:
            raise ValidationFailed(f"No dataset named {ref!r}.", field="dataset") from None
    if evaluator_names:
        evaluators = [
            selectors.evaluator_for_field(n, field="evaluators", by_id=False)
            for n in evaluator_names
        ]
    else:
        evaluators = list(selectors.evaluator_list())
    if not evaluators:
        raise ValidationFailed("The team has no evaluators to judge with.", field="evaluators")
    model = (model or "").strip()
    cap = _max_cost(max_cost)
    candidate = _candidate(
        team=team,
        actor=actor,
        prompt=prompt,
        baseline=baseline,
        version=candidate_version,
        template=candidate_template,
    )
    if candidate.pk == baseline.pk and not model:
        raise ValidationFailed(
            f"The candidate is v{candidate.number}, the version at {baseline_tag!r} already; "
            "give another version, a template or a model to swap to.",
            field="candidate_version",
        )
    overrides = {"model": model} if model else {}
    candidate_model = model or (candidate.model_settings or {}).get("model") or ""
    specs = [
        VariantSpec(
            prompt_version=baseline,
            label=f"{baseline_tag} v{baseline.number}",
            is_baseline=True,
        ),
        VariantSpec(
            prompt_version=candidate,
            overrides=overrides,
            label=f"candidate v{candidate.number}" + (f" on {model}" if model else ""),
        ),
    ]
    estimate = estimates.estimate_specs(
        dataset=dataset,
        revision=None,
        split="",
        specs=specs,
        repetitions=1,
        cap=cap,
        evaluators=evaluators,
    )
    if estimate.over_cap:
        raise ValidationFailed(
            f"The run is estimated at ${estimate.cost:.4f}, over max_cost ${cap:.4f}.",
            field="max_cost",
        )
    swap = f" on {model}" if model else ""
    experiment = experiment_create(
        team=team,
        actor=actor,
        name=name
        or f"CI: {prompt.name} v{candidate.number}{swap} vs {baseline_tag} (v{baseline.number})",
        dataset=dataset,
        variants=specs,
        evaluators=evaluators,
        concurrency=concurrency,
        cost_cap=cap,
    )
    experiment_start(team=team, actor=actor, experiment=experiment)
    return CIEvaluation(
        experiment, baseline, candidate, candidate_model, estimate, [e.name for e in evaluators]
    )
