"""Every read of experiments, evaluators and tag policies; all run inside the caller's team
scope. A lookup of a posted id takes the field it validates, so the HTML form and the API
report an unknown id the same way."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from apps.core.errors import NotFound, ValidationFailed
from apps.core.pagination import KeysetPage, keyset_page
from apps.datasets.models import Dataset, Example
from apps.datasets.selectors import examples_at_revision
from apps.experiments import stats
from apps.experiments.models import (
    Evaluator,
    Experiment,
    ExperimentEvaluator,
    Result,
    Score,
    Status,
    Variant,
)
from apps.llm.models import ProviderConfig
from apps.prompts.models import Prompt, PromptVersion, TagPolicy
from apps.prompts.selectors import prompt_get, version_at_tag
from apps.teams.models import Team


def experiment_examples(experiment: Experiment) -> QuerySet[Example]:
    """The rows an experiment runs: its pinned revision and split, and its sample if any."""
    examples = examples_at_revision(
        experiment.dataset, experiment.dataset_revision, split=experiment.split or None
    )
    if experiment.sample:
        examples = examples.filter(example_id__in=experiment.sample)
    return examples


def sample_example_ids(
    dataset: Dataset, revision: int, *, split: str, size: int, seed: int
) -> list[str]:
    """A seeded random sample of `size` rows (their example ids in position order): the
    same seed on the same revision picks the same rows."""
    ids = [
        str(example_id)
        for example_id in examples_at_revision(dataset, revision, split=split or None)
        .order_by("position")
        .values_list("example_id", flat=True)
    ]
    if size >= len(ids):
        return ids
    chosen = set(random.Random(seed).sample(range(len(ids)), size))
    return [example_id for index, example_id in enumerate(ids) if index in chosen]


def evaluator_list() -> QuerySet[Evaluator]:
    return Evaluator.objects.order_by("name")


def evaluator_get(evaluator_id: Any) -> Evaluator:
    try:
        return Evaluator.objects.get(pk=int(evaluator_id))
    except (Evaluator.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such evaluator.") from None


def experiment_list(*, status: str = "", dataset_id: Any = None) -> QuerySet[Experiment]:
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


def experiment_get(experiment_id: Any) -> Experiment:
    try:
        return Experiment.objects.select_related("dataset").get(pk=int(experiment_id))
    except (Experiment.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such experiment.") from None


def experiments_by_id(ids: Iterable[Any]) -> dict[int, Experiment]:
    return {e.pk: e for e in Experiment.objects.select_related("dataset").filter(pk__in=ids)}


def experiment_ids_of_team(team: Team, ids: list[int]) -> set[int]:
    """Which of `ids` are experiments of `team` (a request's evidence, checked by prompts
    through apps.prompts.gates)."""
    ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63]
    return set(Experiment.objects.filter(team=team, pk__in=ids).values_list("pk", flat=True))


def experiments_on_dataset(experiment: Experiment, *, limit: int = 20) -> list[Experiment]:
    """The other experiments on the same dataset, newest first: what it can be compared with."""
    others = experiment_list(dataset_id=experiment.dataset_id).exclude(pk=experiment.pk)
    return list(others[:limit])


# --- run state ---------------------------------------------------------------------------


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "PROMPTYARD_EXPERIMENT_STALE_SECONDS", 30))


def is_stale(experiment: Experiment) -> bool:
    """A running experiment whose worker stopped reporting (killed, crashed)."""
    if experiment.status != Status.RUNNING or experiment.is_code:
        return False
    beat = experiment.heartbeat_at or experiment.started_at or experiment.queued_at
    return beat is None or timezone.now() - beat > stale_after()


def can_resume(experiment: Experiment) -> bool:
    if experiment.is_code:
        return False  # resumed by running the client again with the same name
    if experiment.status in (Status.CANCELLED, Status.FAILED, Status.CAPPED):
        return True
    if experiment.status == Status.COMPLETED:
        return experiment.done_count < experiment.total_cells
    return is_stale(experiment)


def variants_of(experiment: Experiment) -> list[Variant]:
    return list(
        Variant.objects.filter(experiment=experiment).select_related("prompt_version__prompt")
    )


def evaluators_of(experiment: Experiment) -> list[ExperimentEvaluator]:
    return list(ExperimentEvaluator.objects.filter(experiment=experiment))


def pass_rates(experiment_ids: Iterable[int]) -> dict[int, float | None]:
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
    cost: float | None = 0.0  # None: calls ran on an unpriced model (unknown, not free)
    avg_latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    # evaluator name -> {"passed", "judged", "errors", "mean", "rate"}
    evaluators: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


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
        s.cost = None if row["total_cost"] is None and s.done else float(row["total_cost"] or 0)
        s.avg_latency_ms = row["latency"]
        s.input_tokens, s.output_tokens = row["tokens_in"] or 0, row["tokens_out"] or 0
    for score_row in (
        Score.objects.filter(experiment=experiment, result__isnull=False)
        .values("result__variant_id", "evaluator_name")
        .annotate(
            n_passed=Count("id", filter=Q(passed=True)),
            n_judged=Count("id", filter=Q(passed__isnull=False)),
            n_errors=Count("id", filter=Q(label="error")),
            mean=Avg("value"),
        )
    ):
        s = out.get(score_row["result__variant_id"])
        if s is None:
            continue
        s.evaluators[score_row["evaluator_name"]] = {
            "passed": score_row["n_passed"],
            "judged": score_row["n_judged"],
            "errors": score_row["n_errors"],
            "mean": score_row["mean"],
            "rate": score_row["n_passed"] / score_row["n_judged"]
            if score_row["n_judged"]
            else None,
        }
    return [out[v.pk] for v in variants]


def results_of(
    experiment: Experiment,
    *,
    variant_id: Any = None,
    errors_only: bool = False,
    failed_only: bool = False,
) -> QuerySet[Result]:
    qs = (
        Result.objects.filter(experiment=experiment)
        .select_related("variant")
        .prefetch_related(Prefetch("scores", queryset=Score.objects.order_by("id")))
        # Variants are created in their position order, so their ids sort the same way,
        # and the order is a key of the results' own index (no join to sort).
        .order_by(*RESULT_ORDER)
    )
    if variant_id:
        qs = qs.filter(variant_id=variant_id)
    if errors_only:
        qs = qs.exclude(error="")
    if failed_only:
        qs = qs.filter(Exists(Score.objects.filter(result=OuterRef("pk"), passed=False)))
    return qs


RESULT_ORDER = ("position", "variant_id", "repetition", "id")


def results_page(
    experiment: Experiment,
    *,
    params: Mapping[str, Any],
    variant_id: Any = None,
    errors_only: bool = False,
    failed_only: bool = False,
    per_page: int = 50,
) -> KeysetPage:
    """A keyset page of the results table (after=/before=/from=/last=, see keyset_page):
    read through (team, experiment, [variant,] position, variant, repetition, id), so the
    last page of a large run costs what the first one does. No count: the summary above
    the table has each variant's."""
    qs = results_of(
        experiment, variant_id=variant_id, errors_only=errors_only, failed_only=failed_only
    )
    return keyset_page(qs, order=RESULT_ORDER, params=params, per_page=per_page)


def result_get(experiment: Experiment, result_id: Any) -> Result:
    try:
        return (
            Result.objects.select_related("variant")
            .prefetch_related("scores")
            .get(experiment=experiment, pk=int(result_id))
        )
    except (Result.DoesNotExist, TypeError, ValueError):
        raise NotFound("No such result.") from None


# --- posted ids ----------------------------------------------------------------------------


def evaluator_for_field(ref: Any, *, field: str = "evaluators", by_id: bool = True) -> Evaluator:
    """An evaluator named by its id or its name (by name only when `by_id` is False)."""
    ref = str(ref).strip()
    evaluator = None
    if by_id and ref.isdigit():
        evaluator = Evaluator.objects.filter(pk=int(ref)).first()
    evaluator = evaluator or Evaluator.objects.filter(name=ref).first()
    if evaluator is None:
        raise ValidationFailed(f"Unknown evaluator {ref!r}.", field=field)
    return evaluator


def evaluators_for_field(
    ids: Iterable[Any] | None, *, field: str = "evaluators"
) -> list[Evaluator]:
    """Evaluators by id, in the order given (duplicates dropped); any unknown id refuses."""
    wanted: list[int] = []
    for raw in ids or []:
        try:
            wanted.append(int(raw))
        except (TypeError, ValueError):
            raise ValidationFailed("Unknown evaluator.", field=field) from None
    found = {e.pk: e for e in Evaluator.objects.filter(pk__in=wanted)}
    if len(found) != len(set(wanted)):
        raise ValidationFailed("Unknown evaluator.", field=field)
    return [found[i] for i in dict.fromkeys(wanted)]


def prompt_version_for_field(spec: dict[str, Any], *, field: str = "variants") -> PromptVersion:
    """The version a variant names: `prompt_version_id`, or `prompt` with `version` or `tag`
    (default: latest)."""
    if spec.get("prompt_version_id") is not None:
        version = (
            PromptVersion.objects.select_related("prompt")
            .filter(pk=spec["prompt_version_id"])
            .first()
        )
        if version is None:
            raise ValidationFailed("Unknown prompt version.", field=field)
        return version
    if not spec.get("prompt"):
        raise ValidationFailed(
            "Each variant needs prompt_version_id, or prompt with version or tag.", field=field
        )
    try:
        prompt = prompt_get(spec["prompt"])
    except NotFound:
        raise ValidationFailed(f"Unknown prompt {spec['prompt']!r}.", field=field) from None
    if spec.get("version") is not None:
        version = PromptVersion.objects.filter(prompt=prompt, number=spec["version"]).first()
        if version is None:
            raise ValidationFailed(f"{prompt.name} has no version {spec['version']}.", field=field)
        return version
    tag = spec.get("tag") or "latest"
    version = version_at_tag(prompt, tag)
    if version is None:
        raise ValidationFailed(f"{prompt.name} has no tag {tag!r}.", field=field)
    return version


def prompt_version_with_hash(prompt: Prompt, digest: str) -> PromptVersion | None:
    """The newest version of `prompt` with this content, if any."""
    return (
        PromptVersion.objects.filter(prompt=prompt, content_hash=digest).order_by("-number").first()
    )


# Posted by HTML forms whose service names the missing field itself: a lookup that finds
# nothing answers None and the service refuses with its own message, after its own checks.


def experiment_or_none(raw: Any) -> Experiment | None:
    """An experiment as a person types it: "12" or "#12"."""
    raw = str(raw or "").lstrip("#").strip()
    return Experiment.objects.filter(pk=raw).first() if raw.isdigit() else None


def dataset_or_none(raw: Any) -> Dataset | None:
    raw = str(raw or "")
    return Dataset.objects.filter(pk=raw).first() if raw.isdigit() else None


def prompt_version_or_none(raw: Any) -> PromptVersion | None:
    raw = str(raw or "")
    if not raw.isdigit():
        return None
    return PromptVersion.objects.select_related("prompt").filter(pk=raw).first()


# --- the new-experiment form -------------------------------------------------------------------


def default_provider() -> ProviderConfig | None:
    """The provider a version that names none runs on: demo-echo first, else by name."""
    return ProviderConfig.objects.order_by("-is_demo", "name").first()


def default_dataset() -> Dataset | None:
    return Dataset.objects.order_by("name").first()


def provider_names(ids: Iterable[Any]) -> dict[str, str]:
    """{provider id as a string: name} for the given ids (stored settings hold either form)."""
    wanted = [str(i) for i in ids if str(i).isdigit()]
    rows = ProviderConfig.objects.filter(pk__in=wanted).values_list("pk", "name")
    return {str(pk): name for pk, name in rows}


# --- tag policies ------------------------------------------------------------------------


def policy_for(prompt: Prompt, tag_name: str) -> TagPolicy | None:
    return (
        TagPolicy.objects.select_related("dataset").filter(prompt=prompt, tag_name=tag_name).first()
    )


def policies_of(prompt: Prompt) -> QuerySet[TagPolicy]:
    return TagPolicy.objects.select_related("dataset").filter(prompt=prompt).order_by("tag_name")


@dataclass(frozen=True)
class PolicyPower:
    examples: int
    smallest_margin: float | None  # in pass-rate fraction
    changed_share: float


def policy_power(policy: TagPolicy, *, changed_share: float = 0.2) -> PolicyPower:
    """What the policy's gating dataset can prove: the smallest regression (margin) it can
    detect with 80 % power at its size, with the family's correction, when the versions
    truly perform alike and `changed_share` of the examples change outcome between them."""
    examples = examples_at_revision(policy.dataset, policy.dataset.current_revision).count()
    family = max(len(policy.evaluators or []), 1)
    return PolicyPower(
        examples,
        stats.smallest_detectable_regression(
            examples, changed_share=changed_share, alpha=0.025 / family
        ),
        changed_share,
    )


def policy_evaluators(policy: TagPolicy) -> list[Evaluator]:
    """The policy's evaluators that still exist, in the policy's order."""
    by_id = {e.pk: e for e in Evaluator.objects.filter(pk__in=policy.evaluators or [])}
    return [by_id[i] for i in policy.evaluators or [] if i in by_id]


CELLS_PAGE = 500


def code_experiment_cells(
    experiment: Experiment, *, after: int | None = None, limit: int = CELLS_PAGE
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a code experiment's examples (its pinned revision, position order) with
    the cells already recorded for each, so a resumed client runs only the others. Returns
    (rows, the position to ask after next or None at the end)."""
    limit = max(1, min(limit, CELLS_PAGE))
    qs = examples_at_revision(
        experiment.dataset, experiment.dataset_revision, split=experiment.split or None
    )
    if after is not None:
        qs = qs.filter(position__gt=after)
    examples = list(qs.values("example_id", "position", "input", "expected")[: limit + 1])
    more = len(examples) > limit
    examples = examples[:limit]
    done: dict[str, list[list[int]]] = {}
    if examples:
        for variant_id, example_id, repetition in Result.objects.filter(
            experiment=experiment,
            position__gte=examples[0]["position"],
            position__lte=examples[-1]["position"],
        ).values_list("variant_id", "example_id", "repetition"):
            done.setdefault(str(example_id), []).append([variant_id, repetition])
    rows = [
        {
            "example_id": str(ex["example_id"]),
            "position": ex["position"],
            "input": ex["input"],
            "expected": ex["expected"],
            "done": done.get(str(ex["example_id"]), []),
        }
        for ex in examples
    ]
    return rows, (examples[-1]["position"] if more else None)
