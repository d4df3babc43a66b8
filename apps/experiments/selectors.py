"""Every read of experiments and evaluators; all run inside the caller's team scope."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, Count, Prefetch, Q, QuerySet, Sum

from apps.core.errors import NotFound
from apps.experiments.models import (
    Evaluator,
    Experiment,
    ExperimentEvaluator,
    Result,
    Score,
    Variant,
)


def evaluator_list() -> QuerySet[Evaluator]:
    return Evaluator.objects.order_by("name")


def evaluator_get(evaluator_id) -> Evaluator:
    try:
        return Evaluator.objects.get(pk=int(evaluator_id))
    except (Evaluator.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such evaluator.") from None


def experiment_list(*, status: str = "", dataset_id=None) -> QuerySet[Experiment]:
    qs = (
        Experiment.objects.select_related("dataset")
        .prefetch_related(
            Prefetch("variants", queryset=Variant.objects.select_related("prompt_version__prompt"))
        )
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    if dataset_id:
        qs = qs.filter(dataset_id=dataset_id)
    return qs


def experiment_get(experiment_id) -> Experiment:
    try:
        return Experiment.objects.select_related("dataset").get(pk=int(experiment_id))
    except (Experiment.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such experiment.") from None


def variants_of(experiment: Experiment) -> list[Variant]:
    return list(
        Variant.objects.filter(experiment=experiment).select_related("prompt_version__prompt")
    )


def evaluators_of(experiment: Experiment) -> list[ExperimentEvaluator]:
    return list(ExperimentEvaluator.objects.filter(experiment=experiment))


def pass_rates(experiment_ids) -> dict[int, float | None]:
    """Headline pass rate per experiment: passed / judged over its automatic scores."""
    rows = (
        Score.objects.filter(experiment_id__in=list(experiment_ids), result__isnull=False)
        .values("experiment_id")
        .annotate(
            n_passed=Count("id", filter=Q(passed=True)),
            n_judged=Count("id", filter=Q(passed__isnull=False)),
        )
    )
    return {
        r["experiment_id"]: (r["n_passed"] / r["n_judged"] if r["n_judged"] else None) for r in rows
    }


@dataclass
class VariantSummary:
    variant: Variant
    done: int = 0
    errors: int = 0
    cost: float = 0.0
    avg_latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    evaluators: dict = None  # evaluator name -> {"passed", "judged", "errors", "mean"}


def summary(experiment: Experiment) -> list[VariantSummary]:
    """Per variant: counts, cost, latency, and per evaluator pass counts (two queries)."""
    variants = variants_of(experiment)
    out = {v.pk: VariantSummary(variant=v, evaluators={}) for v in variants}
    for row in (
        Result.objects.filter(experiment=experiment)
        .values("variant_id")
        .annotate(
            done=Count("id"),
            errors=Count("id", filter=~Q(error="")),
            total_cost=Sum("cost"),
            latency=Avg("latency_ms"),
            tokens_in=Sum("input_tokens"),
            tokens_out=Sum("output_tokens"),
        )
    ):
        s = out.get(row["variant_id"])
        if s is None:
            continue
        s.done, s.errors = row["done"], row["errors"]
        s.cost = float(row["total_cost"] or 0)
        s.avg_latency_ms = row["latency"]
        s.input_tokens, s.output_tokens = row["tokens_in"] or 0, row["tokens_out"] or 0
    for row in (
        Score.objects.filter(experiment=experiment, result__isnull=False)
        .values("result__variant_id", "evaluator_name")
        .annotate(
            n_passed=Count("id", filter=Q(passed=True)),
            n_judged=Count("id", filter=Q(passed__isnull=False)),
            n_errors=Count("id", filter=Q(label="error")),
            mean=Avg("value"),
        )
    ):
        s = out.get(row["result__variant_id"])
        if s is None:
            continue
        s.evaluators[row["evaluator_name"]] = {
            "passed": row["n_passed"],
            "judged": row["n_judged"],
            "errors": row["n_errors"],
            "mean": row["mean"],
            "rate": row["n_passed"] / row["n_judged"] if row["n_judged"] else None,
        }
    return [out[v.pk] for v in variants]


def results_of(
    experiment: Experiment, *, variant_id=None, errors_only: bool = False, failed_only: bool = False
) -> QuerySet[Result]:
    qs = (
        Result.objects.filter(experiment=experiment)
        .select_related("variant")
        .prefetch_related(Prefetch("scores", queryset=Score.objects.order_by("id")))
        .order_by("position", "variant__position", "repetition", "id")
    )
    if variant_id:
        qs = qs.filter(variant_id=variant_id)
    if errors_only:
        qs = qs.exclude(error="")
    if failed_only:
        qs = qs.filter(scores__passed=False).distinct()
    return qs


def result_get(experiment: Experiment, result_id) -> Result:
    try:
        return (
            Result.objects.select_related("variant")
            .prefetch_related("scores")
            .get(experiment=experiment, pk=int(result_id))
        )
    except (Result.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such result.") from None
