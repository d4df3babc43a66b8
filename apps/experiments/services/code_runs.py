"""Writes of code experiments: the team's own code ran each example (in the SDK's
`promptyard.run_experiment`) and the SDK records the outcomes here.

A code experiment is an Experiment like any other (kind "code"): variants, results and
scores are the same rows, so the comparison page, statistics, promotion evidence and tag
policies read it unchanged. What differs is who fills it:

- `code_experiment_start` is idempotent by name: re-running with the same name returns the
  same experiment, and the SDK skips the cells already recorded (resume).
- `code_results_record` stores a bounded batch atomically. The result's unique constraint
  (experiment, variant, example, repetition) refuses a cell stored twice: a retried upload or
  a resumed run stores no duplicate. Inputs and expected values are the server's (the
  pinned revision), never the client's copy.
- `code_run_record_end` counts what is stored and, when the experiment names server-side
  evaluators, hands their scoring to the worker (`code_evaluators_run`); else it completes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from apps.core.errors import Conflict, ValidationFailed
from apps.datasets.models import Dataset
from apps.datasets.selectors import examples_at_revision
from apps.experiments.evaluators import REGISTRY, EvalContext, evaluate, resolve_judge
from apps.experiments.evaluators.base import error
from apps.experiments.evaluators.judge import KIND as JUDGE_KIND
from apps.experiments.models import (
    Evaluator,
    Experiment,
    ExperimentEvaluator,
    ExperimentKind,
    Result,
    Score,
    ScoreSource,
    Status,
    Variant,
)
from apps.experiments.services.experiments import (
    MAX_REPETITIONS,
    MAX_VARIANTS,
    WRITE,
    _evaluators_link,
    _int,
)
from apps.experiments.tasks import score_code_experiment
from apps.prompts.models import PromptVersion
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_user, require

MAX_BATCH = 500  # result rows per upload
MAX_OUTPUT_CHARS = 100_000
MAX_SCORES_PER_ROW = 20
SDK_KIND = "sdk"  # an ExperimentEvaluator that ran in the SDK (a Python function)


@dataclass(frozen=True)
class CodeVariantSpec:
    label: str
    prompt_version: PromptVersion | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    is_baseline: bool = False


@dataclass(frozen=True)
class SdkEvaluatorSpec:
    name: str
    source_hash: str = ""


@dataclass
class RecordOutcome:
    stored: int
    duplicates: int
    scores: int


def _clean_label(value: Any, *, field_name: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise ValidationFailed("A name is required.", field=field_name)
    if len(text) > 100:
        raise ValidationFailed("At most 100 characters.", field=field_name)
    return text


@transaction.atomic
def code_experiment_start(
    *,
    team: Team,
    actor: Actor,
    name: str,
    dataset: Dataset,
    variants: list[CodeVariantSpec],
    evaluators: list[Evaluator] | None = None,
    sdk_evaluators: list[SdkEvaluatorSpec] | None = None,
    dataset_revision: int | None = None,
    split: str = "",
    repetitions: int | str = 1,
    concurrency: int | str = 8,
    description: str = "",
    default_variant: bool = False,
) -> tuple[Experiment, bool]:
    """The code experiment called `name` (created when new; returned as it is when it
    exists, so a re-run resumes it). Returns (experiment, created). `default_variant`: the
    caller named no variant (its one is the task's name), so a resumed run takes the stored
    one whatever its task is called now."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the experiment a name.", field="name")
    if len(name) > 200:
        raise ValidationFailed("The name is longer than 200 characters.", field="name")
    existing = (
        Experiment.objects.select_for_update().filter(kind=ExperimentKind.CODE, name=name).first()
    )
    if existing is not None:
        return _reopen(
            existing,
            team=team,
            actor=actor,
            dataset=dataset,
            variants=[] if default_variant else variants,
        ), False
    revision = _int(
        dataset.current_revision if dataset_revision is None else dataset_revision,
        field_name="dataset_revision",
        low=0,
        high=dataset.current_revision,
        label="The dataset revision",
    )
    repetitions = _int(
        repetitions, field_name="repetitions", low=1, high=MAX_REPETITIONS, label="Repetitions"
    )
    concurrency = _int(concurrency, field_name="concurrency", low=1, high=1024, label="Concurrency")
    split = (split or "").strip()
    if not variants:
        raise ValidationFailed("Name at least one variant.", field="variants")
    if len(variants) > MAX_VARIANTS:
        raise ValidationFailed(f"At most {MAX_VARIANTS} variants.", field="variants")
    labels = [_clean_label(spec.label, field_name="variants") for spec in variants]
    if len(set(labels)) != len(labels):
        raise ValidationFailed("Variant labels must differ.", field="variants")
    if sum(1 for spec in variants if spec.is_baseline) > 1:
        raise ValidationFailed("Only one variant can be the baseline.", field="variants")
    examples = examples_at_revision(dataset, revision, split=split or None).count()
    if examples == 0:
        raise ValidationFailed(
            f"Dataset {dataset.name} has no examples at revision {revision}.", field="dataset"
        )
    now = timezone.now()
    experiment = Experiment(
        team=team,
        kind=ExperimentKind.CODE,
        name=name,
        description=description or "",
        dataset=dataset,
        dataset_revision=revision,
        split=split,
        repetitions=repetitions,
        concurrency=concurrency,
        total_cells=examples * repetitions * len(variants),
        # Running while the client runs the task; no heartbeat: the worker's scheduler
        # neither counts nor joins it (it has no shards and no provider calls).
        status=Status.RUNNING,
        queued_at=now,
        started_at=now,
        created_by=actor_user(actor),
        created_by_label=actor_label(actor),
    )
    experiment.save()
    has_baseline = any(spec.is_baseline for spec in variants)
    for position, (spec, label) in enumerate(zip(variants, labels, strict=True)):
        version = spec.prompt_version
        if version is not None and version.team_id != team.pk:
            raise ValidationFailed("Unknown prompt version.", field="variants")
        Variant.objects.create(
            team=team,
            experiment=experiment,
            prompt_version=version,
            settings=dict(spec.settings or {}),
            label=label,
            is_baseline=spec.is_baseline or (not has_baseline and position == 0),
            position=position,
        )
    position = _evaluators_link(team, experiment, evaluators)
    names = {link_name for link_name in (e.name for e in evaluators or [])}
    for sdk in sdk_evaluators or []:
        label = _clean_label(sdk.name, field_name="sdk_evaluators")
        if label in names:
            raise ValidationFailed(
                f"Two evaluators are called {label}; rename one.", field="sdk_evaluators"
            )
        names.add(label)
        ExperimentEvaluator.objects.create(
            team=team,
            experiment=experiment,
            name=label,
            kind=SDK_KIND,
            params={"source_hash": str(sdk.source_hash or "")[:128]},
            position=position,
        )
        position += 1
    audit_record(
        team=team,
        actor=actor,
        verb="experiment.create",
        target=experiment,
        after={
            "kind": "code",
            "dataset": dataset.name,
            "revision": revision,
            "variants": labels,
            "evaluators": sorted(names),
            "cells": experiment.total_cells,
        },
    )
    return experiment, True


def _reopen(
    experiment: Experiment,
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    variants: list[CodeVariantSpec],
) -> Experiment:
    if experiment.dataset_id != dataset.pk:
        raise Conflict(
            f"The experiment '{experiment.name}' ran on another dataset; choose another name."
        )
    stored = set(Variant.objects.filter(experiment=experiment).values_list("label", flat=True))
    wanted = {spec.label.strip() for spec in variants}
    if not variants and len(stored) != 1:
        raise Conflict(
            f"The experiment '{experiment.name}' has the variants {sorted(stored)}; name them "
            "to resume it (or use another name)."
        )
    if wanted and not wanted <= stored:
        raise Conflict(
            f"The experiment '{experiment.name}' has the variants {sorted(stored)}; a resumed "
            "run names the same ones (or use another name)."
        )
    if experiment.status != Status.RUNNING:
        experiment.status = Status.RUNNING
        experiment.finished_at = None
        experiment.status_detail = ""
        experiment.save(update_fields=["status", "finished_at", "status_detail"])
        audit_record(team=team, actor=actor, verb="experiment.resume", target=experiment)
    return experiment


def _code_experiment(experiment: Experiment) -> None:
    if not experiment.is_code:
        raise Conflict("Only a code experiment takes results from a client.")


def _optional_int(value: Any, *, field_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValidationFailed("A whole number from 0.", field=field_name)
    return value


def _number(value: Any, *, field_name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed("A number.", field=field_name)
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationFailed("A finite number.", field=field_name)
    return number


@transaction.atomic
def code_results_record(
    *, team: Team, actor: Actor, experiment: Experiment, rows: list[dict[str, Any]]
) -> RecordOutcome:
    """Store one batch of cells and their SDK scores, all or nothing. A cell already stored
    is refused by the unique constraint and counted as a duplicate (its scores are kept as
    they were)."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    _code_experiment(experiment)
    if experiment.status != Status.RUNNING:
        raise Conflict(
            f"The experiment is {experiment.get_status_display().lower()}; open it again "
            "(run_experiment with the same name) to add results."
        )
    if not rows:
        return RecordOutcome(0, 0, 0)
    if len(rows) > MAX_BATCH:
        raise ValidationFailed(f"At most {MAX_BATCH} rows per upload.", field="rows")
    variants = {
        v.label: v.pk for v in Variant.objects.filter(experiment=experiment).only("pk", "label")
    }
    variant_ids = set(variants.values())
    sdk_names = set(
        ExperimentEvaluator.objects.filter(experiment=experiment, kind=SDK_KIND).values_list(
            "name", flat=True
        )
    )
    wanted: list[tuple[int, uuid.UUID, int, dict[str, Any]]] = []
    seen: set[tuple[int, uuid.UUID, int]] = set()
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, dict):
            raise ValidationFailed("Each row is an object.", field=where)
        variant = row.get("variant")
        variant_id = variants.get(variant) if isinstance(variant, str) else None
        if variant_id is None and isinstance(variant, int) and variant in variant_ids:
            variant_id = variant
        if variant_id is None:
            raise ValidationFailed("Unknown variant of this experiment.", field=f"{where}.variant")
        try:
            example_id = uuid.UUID(str(row.get("example_id")))
        except ValueError:
            raise ValidationFailed("Not an example id.", field=f"{where}.example_id") from None
        repetition = row.get("repetition", 0)
        if (
            isinstance(repetition, bool)
            or not isinstance(repetition, int)
            or not 0 <= repetition < experiment.repetitions
        ):
            raise ValidationFailed(
                f"A repetition from 0 to {experiment.repetitions - 1}.",
                field=f"{where}.repetition",
            )
        key = (variant_id, example_id, repetition)
        if key in seen:
            raise ValidationFailed("This cell appears twice in the batch.", field=where)
        seen.add(key)
        wanted.append((variant_id, example_id, repetition, row))
    examples = {
        ex.example_id: ex
        for ex in examples_at_revision(
            experiment.dataset, experiment.dataset_revision, split=experiment.split or None
        )
        .filter(example_id__in={key[1] for key in wanted})
        .only("example_id", "position", "input", "expected")
    }
    now = timezone.now()
    results = []
    scores_by_key: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    for index, (variant_id, example_id, repetition, row) in enumerate(wanted):
        where = f"rows[{index}]"
        example = examples.get(example_id)
        if example is None:
            raise ValidationFailed(
                "No such example in the experiment's dataset revision.",
                field=f"{where}.example_id",
            )
        output = row.get("output")
        output = "" if output is None else output
        if not isinstance(output, str):
            raise ValidationFailed("The output is text.", field=f"{where}.output")
        error = row.get("error") or ""
        if not isinstance(error, str):
            raise ValidationFailed("The error is text.", field=f"{where}.error")
        cost = _number(row.get("cost"), field_name=f"{where}.cost")
        try:
            cost_value = None if cost is None else Decimal(str(cost)).quantize(Decimal("1e-8"))
        except InvalidOperation:
            raise ValidationFailed("A number.", field=f"{where}.cost") from None
        results.append(
            Result(
                team=team,
                experiment=experiment,
                variant_id=variant_id,
                example_id=example_id,
                position=example.position,
                repetition=repetition,
                input=example.input,
                expected=example.expected,
                output=output[:MAX_OUTPUT_CHARS],
                error=error[:5000],
                error_kind=("task" if error else "")[:20],
                latency_ms=_optional_int(row.get("latency_ms"), field_name=f"{where}.latency_ms"),
                input_tokens=_optional_int(
                    row.get("input_tokens"), field_name=f"{where}.input_tokens"
                ),
                output_tokens=_optional_int(
                    row.get("output_tokens"), field_name=f"{where}.output_tokens"
                ),
                cost=cost_value,
                created_at=now,
            )
        )
        scores = row.get("scores") or []
        if not isinstance(scores, list) or len(scores) > MAX_SCORES_PER_ROW:
            raise ValidationFailed(
                f"A list of at most {MAX_SCORES_PER_ROW} scores.", field=f"{where}.scores"
            )
        for j, score in enumerate(scores):
            name = score.get("name") if isinstance(score, dict) else None
            if name not in sdk_names:
                raise ValidationFailed(
                    "Not an SDK evaluator of this experiment.", field=f"{where}.scores[{j}].name"
                )
        scores_by_key[(variant_id, str(example_id), repetition)] = scores
    # The experiment's row is locked: no other upload of it stores a cell meanwhile, so
    # what exists now is exactly what the constraint would refuse.
    existing = set(
        Result.objects.filter(experiment=experiment, example_id__in={key[1] for key in wanted})
        .values_list("variant_id", "example_id", "repetition")
        .order_by()
    )
    fresh = [r for r in results if (r.variant_id, r.example_id, r.repetition) not in existing]
    Result.objects.bulk_create(fresh, ignore_conflicts=True)
    stored = len(fresh)
    # New and old cells alike: a score already stored is kept (its constraint).
    ids = {
        (v, str(e), r): pk
        for pk, v, e, r in Result.objects.filter(
            experiment=experiment, example_id__in={key[1] for key in wanted}
        ).values_list("pk", "variant_id", "example_id", "repetition")
    }
    score_rows = []
    for cell_key, scores in scores_by_key.items():
        result_id = ids.get(cell_key)
        if result_id is None:
            continue
        for j, score in enumerate(scores):
            where = f"scores[{j}]"
            value = _number(score.get("value"), field_name=where + ".value")
            passed = score.get("passed")
            if passed is not None and not isinstance(passed, bool):
                raise ValidationFailed("true, false or null.", field=where + ".passed")
            score_rows.append(
                Score(
                    team=team,
                    result_id=result_id,
                    experiment=experiment,
                    evaluator_name=score["name"],
                    value=value,
                    passed=passed,
                    label=str(score.get("label") or "")[:100],
                    explanation=str(score.get("explanation") or "")[:5000],
                    source=ScoreSource.SDK,
                    created_at=now,
                )
            )
    Score.objects.bulk_create(score_rows, ignore_conflicts=True)
    # Counters move by what this batch stored (finish recounts them from the rows).
    Experiment.objects.filter(pk=experiment.pk).update(
        done_count=F("done_count") + stored,
        error_count=F("error_count") + sum(1 for r in fresh if r.error),
        input_tokens_total=F("input_tokens_total") + sum(r.input_tokens or 0 for r in fresh),
        output_tokens_total=F("output_tokens_total") + sum(r.output_tokens or 0 for r in fresh),
        cost_total=F("cost_total") + sum((r.cost or Decimal(0) for r in fresh), Decimal(0)),
    )
    return RecordOutcome(stored=stored, duplicates=len(results) - stored, scores=len(score_rows))


def _refresh_counters(experiment: Experiment) -> None:
    totals = Result.objects.filter(experiment=experiment).aggregate(
        done=Count("id"),
        errors=Count("id", filter=~Q(error="")),
        cost=Sum("cost"),
        tin=Sum("input_tokens"),
        tout=Sum("output_tokens"),
    )
    experiment.done_count = totals["done"] or 0
    experiment.error_count = totals["errors"] or 0
    experiment.cost_total = totals["cost"] or 0
    experiment.input_tokens_total = totals["tin"] or 0
    experiment.output_tokens_total = totals["tout"] or 0
    experiment.save(
        update_fields=[
            "done_count",
            "error_count",
            "cost_total",
            "input_tokens_total",
            "output_tokens_total",
        ]
    )


def _server_evaluators(experiment: Experiment) -> list[ExperimentEvaluator]:
    return list(ExperimentEvaluator.objects.filter(experiment=experiment).exclude(kind=SDK_KIND))


@transaction.atomic
def code_run_record_end(
    *, team: Team, actor: Actor, experiment: Experiment, enqueue: bool = True
) -> Experiment:
    """The client ran every cell it was going to: complete the experiment, or hand it to
    the worker to run the server-side evaluators first."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    _code_experiment(experiment)
    if experiment.status != Status.RUNNING:
        raise Conflict(f"The experiment is {experiment.get_status_display().lower()}.")
    _refresh_counters(experiment)
    missing = experiment.total_cells - experiment.done_count
    if _server_evaluators(experiment):
        experiment.status_detail = "Scoring the recorded outputs…"
        experiment.save(update_fields=["status_detail"])
        if enqueue:
            experiment_id = experiment.pk
            transaction.on_commit(lambda: _enqueue_scoring(experiment_id))
    else:
        _complete(experiment, missing)
    audit_record(
        team=team,
        actor=actor,
        verb="experiment.finish",
        target=experiment,
        after={"results": experiment.done_count, "missing": missing},
    )
    return experiment


def _complete(experiment: Experiment, missing: int) -> None:
    experiment.status = Status.COMPLETED
    experiment.finished_at = timezone.now()
    experiment.status_detail = (
        f"Recorded by the client; {missing} cells were not run." if missing > 0 else ""
    )
    experiment.save(update_fields=["status", "finished_at", "status_detail"])


def _enqueue_scoring(experiment_id: int) -> None:
    score_code_experiment.enqueue(experiment_id)


def code_evaluators_run(*, experiment: Experiment, batch_size: int = 500) -> int:
    """The worker's part: run the server-side evaluators on every recorded result that has
    no score of theirs yet, then complete the experiment. Resumable: a rerun scores only
    what is missing. Returns the number of scores written."""
    # Deleted evaluators' links cannot tell their scores apart: nothing to run.
    links = [link for link in _server_evaluators(experiment) if link.evaluator_id is not None]
    evaluator_ids = {link.pk: int(link.evaluator_id or 0) for link in links}
    written = 0
    judges: dict[int, Any] = {}
    for link in links:
        if link.kind == JUDGE_KIND:
            try:
                judges[link.pk] = resolve_judge(link.params)
            except Exception as exc:  # noqa: BLE001 - becomes an error score per row
                judges[link.pk] = exc
    for link in links:
        while True:
            results = list(
                Result.objects.filter(experiment=experiment)
                .exclude(scores__evaluator_id=evaluator_ids[link.pk])
                .order_by("id")[:batch_size]
            )
            if not results:
                break
            now = timezone.now()
            rows = []
            for result in results:
                ctx = EvalContext(
                    output=result.output,
                    expected=result.expected,
                    input=result.input if isinstance(result.input, dict) else {},
                    latency_ms=result.latency_ms,
                    cost=float(result.cost) if result.cost is not None else None,
                    input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens,
                )
                if link.kind == JUDGE_KIND:
                    judge = judges[link.pk]
                    if isinstance(judge, Exception):
                        outcome = error(f"Evaluator unavailable: {judge}")
                    else:
                        outcome = async_to_sync(judge.ajudge)(ctx)
                elif link.kind in REGISTRY:
                    outcome = evaluate(link.kind, link.params, ctx)
                else:
                    outcome = error(f"Unknown evaluator kind '{link.kind}'.")
                rows.append(
                    Score(
                        team=experiment.team,
                        result=result,
                        experiment=experiment,
                        evaluator_id=link.evaluator_id,
                        evaluator_version=link.evaluator_version,
                        evaluator_name=link.name,
                        value=outcome.value,
                        passed=outcome.passed,
                        label=outcome.label,
                        explanation=(outcome.explanation or "")[:5000],
                        source=ScoreSource.LLM if link.kind == JUDGE_KIND else ScoreSource.CODE,
                        created_at=now,
                    )
                )
            Score.objects.bulk_create(rows, ignore_conflicts=True)
            written += len(rows)
    with transaction.atomic():
        locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if locked.status == Status.RUNNING:
            _complete(locked, locked.total_cells - locked.done_count)
    return written
