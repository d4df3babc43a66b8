"""Writes to experiments: create (pinning versions, settings and the dataset revision),
start, resume, cancel, delete. The worker runs them (apps.experiments.runner)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict, ValidationFailed
from apps.datasets.models import Dataset
from apps.datasets.selectors import examples_at_revision
from apps.experiments.models import (
    ACTIVE_STATUSES,
    Evaluator,
    Experiment,
    ExperimentEvaluator,
    Status,
    Variant,
)
from apps.experiments.selectors import can_resume, is_stale, sample_example_ids
from apps.experiments.tasks import run_experiment
from apps.experiments.variants import VariantSpec, effective_settings, unique_specs
from apps.llm.models import ProviderConfig
from apps.prompts import chains
from apps.prompts.models import Kind, PromptVersion
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT, ApiKeyScope, Team
from apps.teams.permissions import actor_user, require

WRITE = ApiKeyScope.EXPERIMENTS_WRITE
MAX_VARIANTS = 10
MAX_REPETITIONS = 20
MAX_CONCURRENCY = 256
MAX_SAMPLE = 10_000


def _decimal(value: Any, *, field_name: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Enter an amount in US dollars.", field=field_name) from None
    if not number.is_finite() or number < 0:
        raise ValidationFailed("The cap must be zero or more.", field=field_name)
    return number.quantize(Decimal("0.0001"))


def _int(value: Any, *, field_name: str, low: int, high: int, label: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label} must be a whole number.", field=field_name) from None
    if not low <= number <= high:
        raise ValidationFailed(f"{label} must be between {low} and {high}.", field=field_name)
    return number


def _provider_for(settings_: dict[str, Any], label: str) -> ProviderConfig:
    provider = None
    if settings_.get("provider_id"):
        provider = ProviderConfig.objects.filter(pk=settings_["provider_id"]).first()
    if provider is None:
        raise ValidationFailed(
            f"Variant {label} has no model provider: choose a model for the run, or set the "
            "team's default model (Settings → Model providers).",
            field="variants",
        )
    if not settings_.get("model"):
        raise ValidationFailed(
            f"Variant {label} names no model on {provider.name}: choose a model for the run, "
            "or set the team's default model (Settings → Model providers).",
            field="variants",
        )
    return provider


def _default_label(version: PromptVersion, overrides: dict[str, Any]) -> str:
    label = f"{version.prompt.name} v{version.number}"
    if overrides.get("model"):
        label += f" · {overrides['model']}"
    return label[:100]


@transaction.atomic
def experiment_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    dataset: Dataset,
    variants: list[VariantSpec],
    evaluators: list[Evaluator] | None = None,
    dataset_revision: int | str | None = None,
    split: str = "",
    repetitions: int | str = 1,
    concurrency: int | str = 8,
    cost_cap: Any = None,
    description: str = "",
    allow_unpriced: bool = False,
    sample_size: int | str | None = None,
    sample_seed: int | str = 0,
    score_steps: bool = False,
) -> Experiment:
    """A draft experiment. With a cost cap, every variant's model must have a price (else
    its spending cannot be counted and the cap cannot hold) unless `allow_unpriced`. With
    `sample_size`, a seeded random sample of that many rows is pinned and run."""
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
    variants = unique_specs(variants, team=team)
    if len(variants) > MAX_VARIANTS:
        raise ValidationFailed(f"At most {MAX_VARIANTS} variants.", field="variants")
    example_count = examples_at_revision(dataset, revision, split=split or None).count()
    if example_count == 0:
        where = f" in split '{split}'" if split else ""
        raise ValidationFailed(
            f"Dataset {dataset.name} has no examples at revision {revision}{where}.",
            field="dataset",
        )
    sample: list[str] = []
    if sample_size not in (None, ""):
        size = _int(
            sample_size, field_name="sample_size", low=1, high=MAX_SAMPLE, label="The sample size"
        )
        seed = _int(sample_seed, field_name="sample_seed", low=0, high=2**31 - 1, label="The seed")
        if size < example_count:
            sample = sample_example_ids(dataset, revision, split=split, size=size, seed=seed)
            example_count = len(sample)

    experiment = Experiment(
        team=team,
        name=name,
        description=description or "",
        dataset=dataset,
        dataset_revision=revision,
        split=split,
        sample=sample,
        score_steps=bool(score_steps),
        repetitions=repetitions,
        concurrency=concurrency,
        cost_cap=cap,
        total_cells=example_count * repetitions * len(variants),
        created_by=actor_user(actor),
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
        settings_ = effective_settings(version, overrides, team=team)
        # A chain's calls are its steps', each on its own version's model.
        calls = [(label, settings_)]
        if version.kind == Kind.CHAIN:
            try:
                steps = chains.resolve_steps(version)
            except ValidationFailed as exc:
                raise ValidationFailed(f"Variant {label}: {exc.message}", field="variants")
            calls = [
                (f"{label}, step {s.name}", effective_settings(s.version, {}, team=team))
                for s in steps
            ]
        for call_label, call_settings in calls:
            provider = _provider_for(call_settings, call_label)
            if (
                cap is not None
                and not allow_unpriced
                and provider.price_for(call_settings["model"]) is None
            ):
                raise ValidationFailed(
                    f"Variant {call_label}: model {call_settings['model']} has no price on "
                    f"provider {provider.name}, so its cost cannot be counted against the cap. "
                    "Set its price on the provider, or confirm running it with its cost "
                    "unknown.",
                    field="cost_cap",
                )
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

    _evaluators_link(team, experiment, evaluators)
    audit_record(
        team=team,
        actor=actor,
        verb="experiment.create",
        target=experiment,
        after={
            "dataset": dataset.name,
            "revision": revision,
            "split": split,
            "sample": len(sample) or None,
            "variants": sorted(labels),
            "evaluators": [e.name for e in evaluators or []],
            "cells": experiment.total_cells,
        },
    )
    return experiment


def _enqueue(experiment_id: int) -> None:
    result = run_experiment.enqueue(experiment_id)
    # reason: runs on commit, after the request's team scope may have closed; the id is ours.
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


def _evaluators_link(
    team: Team, experiment: Experiment, evaluators: Iterable[Evaluator] | None
) -> int:
    """Pin the team's evaluators (each once, as they are now) to the experiment, in order;
    returns the next free position."""
    seen: set[int] = set()
    position = 0
    for evaluator in evaluators or []:
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
        position += 1
    return position


def _locked(experiment: Experiment) -> Experiment:
    return Experiment.objects.select_for_update().get(pk=experiment.pk)


@transaction.atomic
def experiment_start(
    *, team: Team, actor: Actor, experiment: Experiment, enqueue: bool = True
) -> Experiment:
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = _locked(experiment)
    if experiment.status != Status.DRAFT:
        raise Conflict(
            f"The experiment is {experiment.get_status_display().lower()}; only a draft can be started."
        )
    _queue(experiment, enqueue=enqueue)
    audit_record(team=team, actor=actor, verb="experiment.start", target=experiment)
    return experiment


@transaction.atomic
def experiment_resume(
    *,
    team: Team,
    actor: Actor,
    experiment: Experiment,
    cost_cap: Any = ...,
    enqueue: bool = True,
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
def experiment_cancel(*, team: Team, actor: Actor, experiment: Experiment) -> Experiment:
    """A queued run is cancelled at once; a running one stops at the worker's next check."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = _locked(experiment)
    if experiment.status not in ACTIVE_STATUSES:
        raise Conflict(f"The experiment is {experiment.get_status_display().lower()}, not running.")
    who = actor_label(actor)
    experiment.cancel_requested = True
    # A code experiment's client learns it at its next upload (refused): nothing to wait for.
    if experiment.status == Status.QUEUED or experiment.is_code or is_stale(experiment):
        experiment.status = Status.CANCELLED
        experiment.finished_at = timezone.now()
        experiment.status_detail = f"Cancelled by {who}."
    else:
        experiment.status_detail = f"Cancelling (requested by {who})…"
    experiment.save(update_fields=["cancel_requested", "status", "finished_at", "status_detail"])
    audit_record(team=team, actor=actor, verb="experiment.cancel", target=experiment)
    return experiment


@transaction.atomic
def experiment_delete(*, team: Team, actor: Actor, experiment: Experiment) -> None:
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
