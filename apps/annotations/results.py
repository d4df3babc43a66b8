"""An experiment's results as a source of queue items: which failed, which regressed
between two variants, and the variants a request names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from apps.core.errors import ValidationFailed
from apps.experiments.models import Experiment, Result, Variant


def experiment_results(experiment: Experiment) -> QuerySet[Result]:
    """The experiment's results in table order, with what a snapshot reads."""
    return (
        Result.objects.filter(experiment=experiment)
        .select_related("experiment", "variant__prompt_version__prompt")
        .prefetch_related("scores__evaluator")
        .order_by("position", "variant__position", "variant_id", "repetition", "id")
    )


def result_failed(result: Result) -> bool:
    """A result fails when it errored or any automatic score says fail."""
    if result.error:
        return True
    return any(s.passed is False for s in result.scores.all() if s.source != "human")


def result_passed(result: Result) -> bool:
    """A result passes when it has automatic scores and none says fail (no score is not
    a pass)."""
    auto = [s for s in result.scores.all() if s.source != "human"]
    return not result.error and bool(auto) and all(s.passed is not False for s in auto)


def regressions(
    results: Iterable[Result], *, baseline_variant: Variant, candidate_variant: Variant
) -> list[Result]:
    """Candidate results failing on examples where the baseline passed every repetition."""
    baseline, candidate = defaultdict(list), defaultdict(list)
    for result in results:
        if result.variant_id == baseline_variant.pk:
            baseline[result.example_id].append(result)
        elif result.variant_id == candidate_variant.pk:
            candidate[result.example_id].append(result)
    chosen: list[Result] = []
    for example_id, rows in candidate.items():
        base = baseline.get(example_id)
        if not base or not all(result_passed(r) for r in base):
            continue
        chosen.extend(r for r in rows if result_failed(r))
    return chosen


def variant_by_label(
    experiment: Experiment, label: str | None, *, field: str | None = None
) -> Variant | None:
    """The experiment's variant labelled `label`; None for a blank label."""
    label = (label or "").strip()
    if not label:
        return None
    found = Variant.objects.filter(experiment=experiment, label=label).first()
    if found is None:
        raise ValidationFailed(f"No variant {label!r} in that experiment.", field=field)
    return found


def regression_variants(
    experiment: Experiment,
    baseline_variant: Variant | None = None,
    candidate_variant: Variant | None = None,
) -> tuple[Variant, Variant]:
    """The (baseline, candidate) pair to compare: the ones given, else the experiment's
    baseline and its only other variant."""
    variants = list(experiment.variants.order_by("position", "id"))
    if baseline_variant is None:
        baseline_variant = next((v for v in variants if v.is_baseline), None) or (
            variants[0] if variants else None
        )
    if candidate_variant is None and baseline_variant is not None:
        others = [v for v in variants if v.pk != baseline_variant.pk]
        candidate_variant = others[0] if len(others) == 1 else None
    if baseline_variant is None or candidate_variant is None:
        raise ValidationFailed(
            "Choose the baseline and the candidate variant to find regressions.",
            field="candidate_variant",
        )
    ids = {v.pk for v in variants}
    if baseline_variant.pk not in ids or candidate_variant.pk not in ids:
        raise ValidationFailed(
            "Both variants must belong to the experiment.", field="baseline_variant"
        )
    if baseline_variant.pk == candidate_variant.pk:
        raise ValidationFailed("Baseline and candidate must differ.", field="candidate_variant")
    return baseline_variant, candidate_variant
