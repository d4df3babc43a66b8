"""Every write to evaluators and experiments: create, start, cancel, resume."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, ValidationFailed
from apps.experiments.evaluators import get_kind, resolve_judge, validate_params
from apps.experiments.evaluators.judge import KIND as JUDGE_KIND
from apps.experiments.models import (
    ACTIVE_STATUSES,
    Evaluator,
    Experiment,
    ExperimentEvaluator,
    Status,
    Variant,
)
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT
from apps.teams.permissions import is_api_key, require

WRITE = "experiments:write"
MAX_VARIANTS = 10
MAX_REPETITIONS = 20
MAX_CONCURRENCY = 256
# Output tokens assumed per call for the estimate when a variant sets no max_tokens.
ESTIMATE_OUTPUT_TOKENS = 256


def _user(actor):
    return None if actor is None or is_api_key(actor) else actor


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "PROMPTYARD_EXPERIMENT_STALE_SECONDS", 30))


# --- evaluators --------------------------------------------------------------------


def _clean_evaluator(name: str, kind: str, params) -> tuple[str, dict]:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the evaluator a name.", field="name")
    if len(name) > 100:
        raise ValidationFailed("The name is longer than 100 characters.", field="name")
    get_kind(kind)
    cleaned = validate_params(kind, params)
    if kind == JUDGE_KIND:
        resolve_judge(cleaned)  # the judge prompt version must exist and name a model
    return name, cleaned


@transaction.atomic
def evaluator_create(
    *, team, actor, name: str, kind: str, params: dict | None = None, description: str = ""
) -> Evaluator:
    require(actor, PERM_EDIT, team, scope=WRITE)
    name, cleaned = _clean_evaluator(name, kind, params)
    if Evaluator.objects.filter(name=name).exists():
        raise ValidationFailed("An evaluator with that name exists.", field="name")
    evaluator = Evaluator(
        team=team,
        name=name,
        kind=kind,
        params=cleaned,
        description=description or "",
        created_by=_user(actor),
    )
    try:
        with transaction.atomic():
            evaluator.save()
    except IntegrityError:
        raise ValidationFailed("An evaluator with that name exists.", field="name") from None
    audit_record(
        team=team,
        actor=actor,
        verb="evaluator.create",
        target=evaluator,
        after={"name": name, "kind": kind, "params": cleaned},
    )
    return evaluator


@transaction.atomic
def evaluator_update(
    *,
    team,
    actor,
    evaluator: Evaluator,
    name: str | None = None,
    kind: str | None = None,
    params: dict | None = None,
    description: str | None = None,
) -> Evaluator:
    """Change an evaluator; a change of kind or params is a new version."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    evaluator = Evaluator.objects.select_for_update().get(pk=evaluator.pk)
    before = {"name": evaluator.name, "kind": evaluator.kind, "params": evaluator.params}
    new_kind = evaluator.kind if kind is None else kind
    new_params = evaluator.params if params is None and kind is None else (params or {})
    new_name, cleaned = _clean_evaluator(
        evaluator.name if name is None else name, new_kind, new_params
    )
    if new_name != evaluator.name and Evaluator.objects.filter(name=new_name).exists():
        raise ValidationFailed("An evaluator with that name exists.", field="name")
    if new_kind != evaluator.kind or cleaned != evaluator.params:
        evaluator.version += 1
    evaluator.name, evaluator.kind, evaluator.params = new_name, new_kind, cleaned
    if description is not None:
        evaluator.description = description
    evaluator.updated_at = timezone.now()
    evaluator.save()
    audit_record(
        team=team,
        actor=actor,
        verb="evaluator.update",
        target=evaluator,
        before=before,
        after={"name": new_name, "kind": new_kind, "params": cleaned, "version": evaluator.version},
    )
    return evaluator


@transaction.atomic
def evaluator_delete(*, team, actor, evaluator: Evaluator) -> None:
    require(actor, PERM_EDIT, team, scope=WRITE)
    audit_record(
        team=team,
        actor=actor,
        verb="evaluator.delete",
        target=evaluator,
        before={"name": evaluator.name, "kind": evaluator.kind},
    )
    evaluator.delete()


# --- experiments: planning -----------------------------------------------------------


@dataclass
class VariantSpec:
    prompt_version: object
    overrides: dict = field(default_factory=dict)
    label: str = ""
    is_baseline: bool = False


def _decimal(value, *, field_name: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Enter an amount in US dollars.", field=field_name) from None
    if not number.is_finite() or number < 0:
        raise ValidationFailed("The cap must be zero or more.", field=field_name)
    return number.quantize(Decimal("0.0001"))


def _int(value, *, field_name: str, low: int, high: int, label: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label} must be a whole number.", field=field_name) from None
    if not low <= number <= high:
        raise ValidationFailed(f"{label} must be between {low} and {high}.", field=field_name)
    return number


def effective_settings(version, overrides: dict | None) -> dict:
    from apps.prompts.services import normalize_model_settings

    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ValidationFailed("Overrides must be an object of model settings.", field="variants")
    merged = dict(version.model_settings or {})
    merged.update({k: v for k, v in overrides.items()})
    return normalize_model_settings({k: v for k, v in merged.items() if v is not None})


def _provider_for(settings_: dict, label: str):
    from apps.llm.models import ProviderConfig

    provider = None
    if settings_.get("provider_id"):
        provider = ProviderConfig.objects.filter(pk=settings_["provider_id"]).first()
    if provider is None:
        raise ValidationFailed(
            f"Variant {label} has no model provider: set one on the prompt version or in the overrides.",
            field="variants",
        )
    if not settings_.get("model"):
        raise ValidationFailed(f"Variant {label} names no model.", field="variants")
    return provider


def _default_label(version, overrides: dict) -> str:
    label = f"{version.prompt.name} v{version.number}"
    if overrides.get("model"):
        label += f" · {overrides['model']}"
    return label[:100]


def _examples(dataset, revision: int, split: str):
    from apps.datasets.selectors import examples_at_revision

    return examples_at_revision(dataset, revision, split=split or None)


@dataclass
class Estimate:
    calls: int
    examples: int
    input_tokens: int
    output_tokens: int
    cost: Decimal | None  # None when no variant's model is priced
    unpriced: list[str]
    cap: Decimal | None
    judge_calls: int = 0
    render_problems: list[str] = field(default_factory=list)

    @property
    def over_cap(self) -> bool:
        return self.cap is not None and self.cost is not None and self.cost > self.cap


def _rendered_chars(prepared, values: dict) -> int | str:
    """Characters of the rendered prompt, or the render error's message."""
    from apps.prompts.rendering import RenderError

    try:
        rendered = prepared.render(values)
    except RenderError as exc:
        return exc.message
    return sum(len(m.get("content") or "") for m in rendered)


def estimate(
    *,
    dataset,
    revision: int,
    split: str,
    variants: list[tuple[object, dict]],
    repetitions: int,
    cap: Decimal | None = None,
    judges: int = 0,
    sample: int = 200,
) -> Estimate:
    """Calls and an estimated cost: tokens ≈ characters / 4 of the rendered prompts.

    Up to `sample` examples are rendered and the average extrapolated; output tokens are
    the variant's max_tokens, else ESTIMATE_OUTPUT_TOKENS. It is an estimate.
    """
    examples = _examples(dataset, revision, split)
    count = examples.count()
    inputs = list(examples.values_list("input", flat=True)[:sample])
    total_in = total_out = 0
    cost = Decimal(0)
    priced = False
    unpriced = []
    render_problems = []
    for version, settings_ in variants:
        from apps.experiments.runner import PreparedPrompt

        prepared = PreparedPrompt(version)
        sizes = [_rendered_chars(prepared, v if isinstance(v, dict) else {}) for v in inputs]
        failures = [s for s in sizes if isinstance(s, str)]
        if failures:
            render_problems.append(
                f"{version.prompt.name} v{version.number} fails to render {len(failures)} of "
                f"{len(inputs)} sampled examples ({failures[0]}): those rows will be errors."
            )
        chars = sum(s for s in sizes if not isinstance(s, str))
        per_call_in = math.ceil(chars / 4 / len(inputs)) if inputs else 0
        per_call_out = int(settings_.get("max_tokens") or ESTIMATE_OUTPUT_TOKENS)
        calls = count * repetitions
        tokens_in, tokens_out = per_call_in * calls, per_call_out * calls
        total_in += tokens_in
        total_out += tokens_out
        provider = None
        if settings_.get("provider_id"):
            from apps.llm.models import ProviderConfig

            provider = ProviderConfig.objects.filter(pk=settings_["provider_id"]).first()
        price = provider.price_for(settings_.get("model", "")) if provider else None
        if price is None:
            unpriced.append(f"{version.prompt.name} v{version.number}")
            continue
        priced = True
        cost += (
            Decimal(str(price.get("input", 0))) * tokens_in
            + Decimal(str(price.get("output", 0))) * tokens_out
        ) / Decimal(1_000_000)
    calls = count * repetitions * len(variants)
    return Estimate(
        calls=calls,
        examples=count,
        input_tokens=total_in,
        output_tokens=total_out,
        cost=cost.quantize(Decimal("0.0001")) if priced else None,
        unpriced=unpriced,
        cap=cap,
        judge_calls=calls * judges,
        render_problems=list(dict.fromkeys(render_problems)),
    )


# --- experiments: writes -------------------------------------------------------------


@transaction.atomic
def experiment_create(
    *,
    team,
    actor,
    name: str,
    dataset,
    variants: list[VariantSpec],
    evaluators: list[Evaluator] | None = None,
    dataset_revision: int | None = None,
    split: str = "",
    repetitions=1,
    concurrency=8,
    cost_cap=None,
    description: str = "",
) -> Experiment:
    require(actor, PERM_EDIT, team, scope=WRITE)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the experiment a name.", field="name")
    if len(name) > 200:
        raise ValidationFailed("The name is longer than 200 characters.", field="name")
    revision = dataset.current_revision if dataset_revision in (None, "") else dataset_revision
    revision = _int(
        revision,
        field_name="dataset_revision",
        low=0,
        high=dataset.current_revision,
        label="The dataset revision",
    )
    split = (split or "").strip()
    repetitions = _int(
        repetitions, field_name="repetitions", low=1, high=MAX_REPETITIONS, label="Repetitions"
    )
    concurrency = _int(
        concurrency, field_name="concurrency", low=1, high=MAX_CONCURRENCY, label="Concurrency"
    )
    cap = _decimal(cost_cap, field_name="cost_cap")
    if not variants:
        raise ValidationFailed("Choose at least one prompt version.", field="variants")
    if len(variants) > MAX_VARIANTS:
        raise ValidationFailed(f"At most {MAX_VARIANTS} variants.", field="variants")
    example_count = _examples(dataset, revision, split).count()
    if example_count == 0:
        where = f" in split '{split}'" if split else ""
        raise ValidationFailed(
            f"Dataset {dataset.name} has no examples at revision {revision}{where}.",
            field="dataset",
        )

    experiment = Experiment(
        team=team,
        name=name,
        description=description or "",
        dataset=dataset,
        dataset_revision=revision,
        split=split,
        repetitions=repetitions,
        concurrency=concurrency,
        cost_cap=cap,
        total_cells=example_count * repetitions * len(variants),
        created_by=_user(actor),
        created_by_label=actor_label(actor),
    )
    experiment.save()

    labels = set()
    has_baseline = any(spec.is_baseline for spec in variants)
    if sum(1 for spec in variants if spec.is_baseline) > 1:
        raise ValidationFailed("Only one variant can be the baseline.", field="variants")
    for position, spec in enumerate(variants):
        version = spec.prompt_version
        if version is None or version.team_id != team.pk:
            raise ValidationFailed("Unknown prompt version.", field="variants")
        overrides = dict(spec.overrides or {})
        label = (spec.label or "").strip() or _default_label(version, overrides)
        if label in labels:
            label = f"{label} ({position + 1})"
        labels.add(label)
        settings_ = effective_settings(version, overrides)
        _provider_for(settings_, label)
        Variant.objects.create(
            team=team,
            experiment=experiment,
            prompt_version=version,
            overrides=overrides,
            settings=settings_,
            label=label[:100],
            is_baseline=spec.is_baseline or (not has_baseline and position == 0),
            position=position,
        )

    seen = set()
    for position, evaluator in enumerate(evaluators or []):
        if evaluator.team_id != team.pk:
            raise ValidationFailed("Unknown evaluator.", field="evaluators")
        if evaluator.pk in seen:
            continue
        seen.add(evaluator.pk)
        ExperimentEvaluator.objects.create(
            team=team,
            experiment=experiment,
            evaluator=evaluator,
            name=evaluator.name,
            kind=evaluator.kind,
            params=evaluator.params,
            evaluator_version=evaluator.version,
            position=position,
        )
    audit_record(
        team=team,
        actor=actor,
        verb="experiment.create",
        target=experiment,
        after={
            "dataset": dataset.name,
            "revision": revision,
            "split": split,
            "variants": sorted(labels),
            "evaluators": [e.name for e in evaluators or []],
            "cells": experiment.total_cells,
        },
    )
    return experiment


def _enqueue(experiment_id: int) -> None:
    from apps.experiments.models import Experiment
    from apps.experiments.tasks import run_experiment

    result = run_experiment.enqueue(experiment_id)
    Experiment.objects.unscoped().filter(pk=experiment_id).update(task_id=str(result.id)[:64])


def _queue(experiment: Experiment, *, enqueue: bool) -> None:
    experiment.status = Status.QUEUED
    experiment.cancel_requested = False
    experiment.queued_at = timezone.now()
    experiment.finished_at = None
    experiment.error = ""
    experiment.status_detail = ""
    experiment.save(
        update_fields=[
            "status",
            "cancel_requested",
            "queued_at",
            "finished_at",
            "error",
            "status_detail",
        ]
    )
    if enqueue:
        experiment_id = experiment.pk
        transaction.on_commit(lambda: _enqueue(experiment_id))


def _locked(experiment: Experiment) -> Experiment:
    return Experiment.objects.select_for_update().get(pk=experiment.pk)


@transaction.atomic
def experiment_start(*, team, actor, experiment: Experiment, enqueue: bool = True) -> Experiment:
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = _locked(experiment)
    if experiment.status != Status.DRAFT:
        raise Conflict(
            f"The experiment is {experiment.get_status_display().lower()}; only a draft can be started."
        )
    _queue(experiment, enqueue=enqueue)
    audit_record(team=team, actor=actor, verb="experiment.start", target=experiment)
    return experiment


def is_stale(experiment: Experiment) -> bool:
    """A running experiment whose worker stopped reporting (killed, crashed)."""
    if experiment.status != Status.RUNNING:
        return False
    beat = experiment.heartbeat_at or experiment.started_at or experiment.queued_at
    return beat is None or timezone.now() - beat > stale_after()


def can_resume(experiment: Experiment) -> bool:
    if experiment.status in (Status.CANCELLED, Status.FAILED, Status.CAPPED):
        return True
    if experiment.status == Status.COMPLETED:
        return experiment.done_count < experiment.total_cells
    return is_stale(experiment)


@transaction.atomic
def experiment_resume(
    *, team, actor, experiment: Experiment, cost_cap=..., enqueue: bool = True
) -> Experiment:
    """Queue the run again: the worker runs only the cells with no stored result."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = _locked(experiment)
    if not can_resume(experiment):
        if experiment.status == Status.DRAFT:
            raise Conflict("The experiment has not started; start it instead.")
        if experiment.is_active:
            raise Conflict("The experiment is already queued or running.")
        raise Conflict("Every cell of this experiment has a result; there is nothing to resume.")
    before = {"status": experiment.status}
    if cost_cap is not ...:
        experiment.cost_cap = _decimal(cost_cap, field_name="cost_cap")
        experiment.save(update_fields=["cost_cap"])
    _queue(experiment, enqueue=enqueue)
    audit_record(
        team=team,
        actor=actor,
        verb="experiment.resume",
        target=experiment,
        before=before,
        after={"cost_cap": str(experiment.cost_cap) if experiment.cost_cap is not None else None},
    )
    return experiment


@transaction.atomic
def experiment_cancel(*, team, actor, experiment: Experiment) -> Experiment:
    """A queued run is cancelled at once; a running one stops at the worker's next check."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = _locked(experiment)
    if experiment.status not in ACTIVE_STATUSES:
        raise Conflict(f"The experiment is {experiment.get_status_display().lower()}, not running.")
    who = actor_label(actor)
    experiment.cancel_requested = True
    if experiment.status == Status.QUEUED or is_stale(experiment):
        experiment.status = Status.CANCELLED
        experiment.finished_at = timezone.now()
        experiment.status_detail = f"Cancelled by {who}."
    else:
        experiment.status_detail = f"Cancelling (requested by {who})…"
    experiment.save(update_fields=["cancel_requested", "status", "finished_at", "status_detail"])
    audit_record(team=team, actor=actor, verb="experiment.cancel", target=experiment)
    return experiment


@transaction.atomic
def experiment_delete(*, team, actor, experiment: Experiment) -> None:
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = _locked(experiment)
    if experiment.is_active:
        raise Conflict("Cancel the run before deleting the experiment.")
    audit_record(
        team=team,
        actor=actor,
        verb="experiment.delete",
        target=experiment,
        before={"name": experiment.name},
    )
    experiment.delete()
