"""Writes to optimisation runs: create (pinning the version, dataset revision, split,
evaluators, models and budget), start, cancel, resume, and the promotion request of the
best candidate with its evidence. The worker runs them (apps.optimisation.engine)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.annotations.models import AnnotationQueue
from apps.core.errors import Conflict, ValidationFailed
from apps.datasets.models import Dataset
from apps.datasets.selectors import examples_at_revision
from apps.experiments.models import Evaluator
from apps.experiments.variants import effective_settings
from apps.llm.models import ProviderConfig
from apps.optimisation.evidence import evidence_ref, evidence_text
from apps.optimisation.models import ACTIVE, OptimisationRun, RunEvaluator, RunStatus
from apps.optimisation.tasks import run_optimisation
from apps.prompts import services as prompt_services
from apps.prompts.gates import EvidenceRef
from apps.prompts.models import PromotionRequest, PromptVersion
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, ApiKeyScope, Team
from apps.teams.permissions import actor_person, require

WRITE = ApiKeyScope.EXPERIMENTS_WRITE
MAX_ROUNDS = 50
MAX_CALLS = 100_000
MAX_CONCURRENCY = 64
# A run whose worker has not written for this long is taken for dead: it may be resumed.
STALE_SECONDS = 120


def _int(value: Any, *, field: str, low: int, high: int, label: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{label} must be a whole number.", field=field) from None
    if not low <= number <= high:
        raise ValidationFailed(f"{label} must be between {low} and {high}.", field=field)
    return number


def _money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Enter an amount in US dollars.", field="max_cost") from None
    if not number.is_finite() or number < 0:
        raise ValidationFailed("The cost cap must be zero or more.", field="max_cost")
    return number.quantize(Decimal("0.0001"))


def _model(
    version: PromptVersion, team: Team, provider_id: Any, model: str, *, field: str
) -> dict[str, Any]:
    """The version's effective settings with the chosen provider and model on top."""
    overrides: dict[str, Any] = {}
    if provider_id not in (None, ""):
        pk = _int(provider_id, field=field, low=1, high=2**62, label="The provider")
        if not ProviderConfig.objects.filter(pk=pk).exists():
            raise ValidationFailed("There is no such model provider in this team.", field=field)
        overrides["provider_id"] = pk
    if model:
        overrides["model"] = str(model).strip()[:200]
    chosen = effective_settings(version, overrides, team=team)
    if not chosen.get("provider_id") or not chosen.get("model"):
        raise ValidationFailed(
            "Choose a provider and model (or set the team's default model).", field=field
        )
    return chosen


def _ids(values: Any, known: set[str], *, field: str) -> list[str]:
    if not isinstance(values, list) or not values:
        raise ValidationFailed("Give a non-empty list of example ids.", field=field)
    out = []
    for value in values:
        text = str(value)
        if text not in known:
            raise ValidationFailed(f"Example {text} is not in the dataset.", field=field)
        out.append(text)
    return list(dict.fromkeys(out))


def _split(
    dataset: Dataset,
    revision: int,
    *,
    train_split: str,
    validation_split: str,
    train_ids: Any,
    validation_ids: Any,
    validation_share: Any,
    seed: int,
) -> tuple[list[str], list[str], str]:
    """(train ids, validation ids, how they were chosen): named splits, explicit ids, or
    a split made now (shuffled by the seed) and pinned as ids."""
    rows = examples_at_revision(dataset, revision).values_list("example_id", "split")
    by_split: dict[str, list[str]] = {}
    every = []
    for example_id, split in rows:
        every.append(str(example_id))
        by_split.setdefault(split or "", []).append(str(example_id))
    if train_split or validation_split:
        train = by_split.get(train_split or "", [])
        validation = by_split.get(validation_split or "", [])
        if not train:
            raise ValidationFailed(f"Split '{train_split}' has no examples.", field="train_split")
        if not validation:
            raise ValidationFailed(
                f"Split '{validation_split}' has no examples.", field="validation_split"
            )
        note = f"splits '{train_split}' / '{validation_split}'"
    elif train_ids not in (None, "", []) or validation_ids not in (None, "", []):
        known = set(every)
        train = _ids(train_ids, known, field="train_ids")
        validation = _ids(validation_ids, known, field="validation_ids")
        note = "chosen examples"
    else:
        try:
            share = float(0.5 if validation_share in (None, "") else validation_share)
        except (TypeError, ValueError):
            raise ValidationFailed(
                "The validation share is a number between 0 and 1.", field="validation_share"
            ) from None
        if not 0.05 <= share <= 0.95:
            raise ValidationFailed(
                "The validation share must be between 0.05 and 0.95.", field="validation_share"
            )
        shuffled = sorted(every)
        random.Random(seed).shuffle(shuffled)
        cut = round(len(shuffled) * share)
        validation, train = sorted(shuffled[:cut]), sorted(shuffled[cut:])
        note = f"split made on {timezone.now():%Y-%m-%d}: {round(share * 100)} % validation"
    if set(train) & set(validation):
        raise ValidationFailed("An example is in both train and validation.", field="train_ids")
    if len(train) < 2 or not validation:
        raise ValidationFailed(
            "The dataset needs at least two train examples and one validation example.",
            field="dataset",
        )
    return train, validation, note


@transaction.atomic
def optimisation_run_create(
    *,
    team: Team,
    actor: Actor,
    prompt_version: PromptVersion,
    dataset: Dataset,
    evaluators: list[Evaluator],
    name: str = "",
    train_split: str = "",
    validation_split: str = "",
    train_ids: Any = None,
    validation_ids: Any = None,
    validation_share: Any = None,
    annotation_queue: AnnotationQueue | None = None,
    task_provider_id: Any = None,
    task_model: str = "",
    reflection_provider_id: Any = None,
    reflection_model: str = "",
    max_rounds: Any = 5,
    max_calls: Any = 200,
    max_cost: Any = None,
    minibatch_size: Any = 4,
    concurrency: Any = 8,
    margin: Any = 0.05,
    seed: Any = 0,
) -> OptimisationRun:
    """A draft run. The split is pinned as example ids; the budget must leave room for the
    start's measurements (train and validation) and the best's validation."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    if not evaluators:
        raise ValidationFailed("Choose at least one evaluator.", field="evaluators")
    seed = _int(seed, field="seed", low=0, high=2**31, label="The seed")
    revision = dataset.current_revision
    train, validation, note = _split(
        dataset,
        revision,
        train_split=(train_split or "").strip(),
        validation_split=(validation_split or "").strip(),
        train_ids=train_ids,
        validation_ids=validation_ids,
        validation_share=validation_share,
        seed=seed,
    )
    rounds = _int(max_rounds, field="max_rounds", low=1, high=MAX_ROUNDS, label="Rounds")
    calls = _int(max_calls, field="max_calls", low=1, high=MAX_CALLS, label="Model calls")
    needed = len(train) + 2 * len(validation) + 1
    if calls < needed:
        raise ValidationFailed(
            f"Model calls: at least {needed} to measure the start on train and validation, "
            "reflect once and measure the best on validation.",
            field="max_calls",
        )
    cap = _money(max_cost)
    task = _model(prompt_version, team, task_provider_id, task_model, field="task_model")
    reflection = _model(
        prompt_version,
        team,
        reflection_provider_id or task["provider_id"],
        reflection_model or ("" if reflection_provider_id else task["model"]),
        field="reflection_model",
    )
    if cap is not None:
        for chosen, field in ((task, "task_model"), (reflection, "reflection_model")):
            provider = ProviderConfig.objects.get(pk=chosen["provider_id"])
            if provider.price_for(chosen["model"]) is None:
                raise ValidationFailed(
                    f"{chosen['model']} has no price on {provider.name}, so a cost cap "
                    "cannot hold: set its price or leave the cap empty.",
                    field=field,
                )
    try:
        margin_value = float(margin)
    except (TypeError, ValueError):
        raise ValidationFailed("The margin is a number such as 0.05.", field="margin") from None
    if not 0.0 <= margin_value <= 0.5:
        raise ValidationFailed("The margin must be between 0 and 0.5.", field="margin")
    name = (name or "").strip() or (
        f"Optimise {prompt_version.prompt.name} v{prompt_version.number} on {dataset.name}"
    )
    if len(name) > 200:
        raise ValidationFailed("The name is longer than 200 characters.", field="name")
    run = OptimisationRun(
        team=team,
        name=name,
        prompt_version=prompt_version,
        dataset=dataset,
        dataset_revision=revision,
        train_ids=train,
        validation_ids=validation,
        split_note=note[:200],
        annotation_queue=annotation_queue,
        task_settings=task,
        reflection_settings=reflection,
        max_rounds=rounds,
        max_calls=calls,
        max_cost=cap,
        minibatch_size=_int(
            minibatch_size, field="minibatch_size", low=1, high=50, label="Minibatch size"
        ),
        concurrency=_int(
            concurrency, field="concurrency", low=1, high=MAX_CONCURRENCY, label="Concurrency"
        ),
        margin=margin_value,
        seed=seed,
        created_by=actor_person(actor),  # a key acts for its person; the worker too
    )
    run.full_clean()
    run.save()
    RunEvaluator.objects.bulk_create(
        [
            RunEvaluator(team=team, run=run, evaluator=evaluator)
            for evaluator in dict.fromkeys(evaluators)
        ]
    )
    audit_record(team=team, actor=actor, verb="optimisation.create", target=run)
    return run


def _enqueue(run_id: int) -> None:
    result = run_optimisation.enqueue(run_id)
    # reason: runs on commit, after the request's team scope may have closed; the id is ours.
    OptimisationRun.objects.unscoped().filter(pk=run_id).update(task_id=str(result.id)[:64])


def _queue(run: OptimisationRun, *, enqueue: bool) -> None:
    run.status = RunStatus.QUEUED
    run.cancel_requested = False
    run.finished_at = None
    run.error = ""
    run.status_detail = ""
    run.save(update_fields=["status", "cancel_requested", "finished_at", "error", "status_detail"])
    if enqueue:
        run_id = run.pk
        transaction.on_commit(lambda: _enqueue(run_id))


def _locked(run: OptimisationRun) -> OptimisationRun:
    return OptimisationRun.objects.select_for_update().get(pk=run.pk)


@transaction.atomic
def optimisation_run_start(
    *, team: Team, actor: Actor, run: OptimisationRun, enqueue: bool = True
) -> OptimisationRun:
    require(actor, PERM_EDIT, team, scope=WRITE)
    run = _locked(run)
    if run.status != RunStatus.DRAFT:
        raise Conflict(f"The run is {run.get_status_display().lower()}; only a draft starts.")
    _queue(run, enqueue=enqueue)
    audit_record(team=team, actor=actor, verb="optimisation.start", target=run)
    return run


@transaction.atomic
def optimisation_run_cancel(*, team: Team, actor: Actor, run: OptimisationRun) -> OptimisationRun:
    """A queued run stops at once; a running one at the end of its current round."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    run = _locked(run)
    if run.status not in ACTIVE:
        raise Conflict("Only a queued or running run can be cancelled.")
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.CANCELLED
        run.finished_at = timezone.now()
        run.status_detail = "Cancelled before it started; resume to run it."
    run.cancel_requested = True
    run.save(update_fields=["status", "finished_at", "status_detail", "cancel_requested"])
    audit_record(team=team, actor=actor, verb="optimisation.cancel", target=run)
    return run


def _stale(run: OptimisationRun) -> bool:
    beat = run.heartbeat_at or run.started_at
    limit = getattr(settings, "PROMPTYARD_OPTIMISATION_STALE_SECONDS", STALE_SECONDS)
    return beat is None or timezone.now() - beat > timedelta(seconds=limit)


@transaction.atomic
def optimisation_run_resume(
    *, team: Team, actor: Actor, run: OptimisationRun, enqueue: bool = True
) -> OptimisationRun:
    """Queue a cancelled, failed or dead (no heartbeat for a while) run again: it replays
    its stored evaluations and reflections and calls only for what is missing."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    run = _locked(run)
    dead = run.status == RunStatus.RUNNING and _stale(run)
    if run.status not in (RunStatus.CANCELLED, RunStatus.FAILED) and not dead:
        raise Conflict(
            f"The run is {run.get_status_display().lower()}; only a cancelled, failed or "
            "stalled run resumes."
        )
    _queue(run, enqueue=enqueue)
    audit_record(team=team, actor=actor, verb="optimisation.resume", target=run)
    return run


@transaction.atomic
def optimisation_promotion_create(
    *,
    team: Team,
    actor: Actor,
    run: OptimisationRun,
    tag_name: str = "production",
    description: str | None = None,
    evidence: list[EvidenceRef] | None = None,
) -> PromotionRequest:
    """Ask to move `tag_name` to the run's best version: the run is its evidence (the gate
    judges its held-out comparison under the tag's policy), with any further `evidence`
    (experiment ids, references), and its description says the comparison in words."""
    require(actor, PERM_EDIT, team, scope=ApiKeyScope.PROMPTS_WRITE)
    run = _locked(run)
    if run.status != RunStatus.SUCCEEDED or run.best_candidate is None:
        raise Conflict("Only a finished run has a best version to promote.")
    best = run.best_candidate.version
    if best is None or best.pk == run.prompt_version_id:
        raise Conflict("The run found nothing better than the version it started from.")
    text = evidence_text(run) if description is None else description
    promotion = prompt_services.promotion_request_create(
        team=team,
        actor=actor,
        prompt=best.prompt,
        tag_name=(tag_name or "production").strip(),
        candidate=best,
        description=text,
        evidence=[evidence_ref(run), *(evidence or [])],
    )
    run.promotion = promotion
    run.save(update_fields=["promotion"])
    audit_record(team=team, actor=actor, verb="optimisation.request_promotion", target=run)
    return promotion
