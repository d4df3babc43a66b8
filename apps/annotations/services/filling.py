"""Filling a queue: items from an experiment's results (all, failed, regressions, a
sample) or from trace spans. Each item copies what the annotator needs (its snapshot)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from apps.annotations.models import AnnotationQueue, QueueItem
from apps.annotations.permissions import require_manage
from apps.annotations.results import (
    experiment_results,
    regression_variants,
    regressions,
    result_failed,
)
from apps.annotations.snapshots import result_snapshot, span_snapshot
from apps.core.errors import NotFound, ValidationFailed
from apps.experiments.models import Experiment, Variant
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import Team

FILL_MODES = ("all", "failed", "regressions", "sample")


@transaction.atomic
def queue_fill_from_experiment(
    *,
    team: Team,
    actor: Actor,
    queue: AnnotationQueue,
    experiment: Experiment,
    mode: str = "all",
    sample_size: int | None = None,
    seed: int | None = None,
    baseline_variant: Variant | None = None,
    candidate_variant: Variant | None = None,
) -> list[QueueItem]:
    """Add the experiment's results (all, failed only, regressions only, or a random
    sample of N) to the queue; results already in it are not added twice."""
    require_manage(actor, team)
    if mode not in FILL_MODES:
        raise ValidationFailed(f"Choose one of: {', '.join(FILL_MODES)}.", field="mode")
    if experiment.team_id != team.pk:
        raise NotFound("No such experiment.")
    results = list(experiment_results(experiment))
    if mode == "failed":
        results = [r for r in results if result_failed(r)]
    elif mode == "regressions":
        baseline_variant, candidate_variant = regression_variants(
            experiment, baseline_variant, candidate_variant
        )
        results = regressions(
            results, baseline_variant=baseline_variant, candidate_variant=candidate_variant
        )
    elif mode == "sample":
        try:
            size = int(sample_size or 0)
        except (TypeError, ValueError):
            size = 0
        if size < 1:
            raise ValidationFailed("Give the sample size N (1 or more).", field="sample_size")
        rng = random.Random(seed)
        results = sorted(rng.sample(results, min(size, len(results))), key=lambda r: r.pk)
    queue = AnnotationQueue.objects.select_for_update().get(pk=queue.pk)
    present = set(
        QueueItem.objects.filter(queue=queue, result__isnull=False).values_list(
            "result_id", flat=True
        )
    )
    position = queue.next_position
    items = []
    for result in results:
        if result.pk in present:
            continue
        present.add(result.pk)
        items.append(
            QueueItem(
                team=team,
                queue=queue,
                position=position,
                result=result,
                source_ref=f"result:{result.pk}",
                snapshot=result_snapshot(result),
            )
        )
        position += 1
    QueueItem.objects.bulk_create(items)
    queue.next_position = position
    queue.save(update_fields=["next_position"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.fill",
        target=queue,
        after={
            "experiment_id": experiment.pk,
            "mode": mode,
            "added": len(items),
            "sample_size": sample_size,
        },
    )
    return items


@transaction.atomic
def queue_add_spans(
    *, team: Team, actor: Actor, queue: AnnotationQueue, spans: Iterable[Any]
) -> list[QueueItem]:
    """Add trace spans (model calls seen in production) as items."""
    require_manage(actor, team)
    queue = AnnotationQueue.objects.select_for_update().get(pk=queue.pk)
    present = set(
        QueueItem.objects.filter(queue=queue, span__isnull=False).values_list("span_id", flat=True)
    )
    position, items = queue.next_position, []
    for span in spans:
        if span.pk in present or span.team_id != team.pk:
            continue
        present.add(span.pk)
        items.append(
            QueueItem(
                team=team,
                queue=queue,
                position=position,
                span=span,
                source_ref=f"span:{span.trace.trace_id}/{span.span_id}",
                snapshot=span_snapshot(span),
            )
        )
        position += 1
    QueueItem.objects.bulk_create(items)
    queue.next_position = position
    queue.save(update_fields=["next_position"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.fill",
        target=queue,
        after={"spans": len(items)},
    )
    return items
