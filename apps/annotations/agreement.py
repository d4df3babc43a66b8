"""How far verdicts agree: evaluators against the human verdict, and annotators with each
other (percentage and Cohen's kappa)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from apps.annotations.models import Annotation, QueueItem
from apps.annotations.selectors import item_verdict
from apps.experiments.models import Score
from apps.experiments.stats import cohen_kappa, percent_agreement


@dataclass
class Agreement:
    name: str
    n: int
    percent: float | None
    kappa: float | None


def _agreement(name, pairs) -> Agreement:
    return Agreement(
        name=name, n=len(pairs), percent=percent_agreement(pairs), kappa=cohen_kappa(pairs)
    )


def human_verdicts(*, items) -> dict:
    """{result_id: human verdict} for items that have one."""
    verdicts = {}
    for item in items:
        verdict = item_verdict(item, list(item.annotations.all()))
        if verdict is not None and item.result_id is not None:
            verdicts[item.result_id] = verdict
    return verdicts


def evaluator_agreement(*, team, queue=None) -> list[Agreement]:
    """Per evaluator: how often its pass/fail matches the human verdict on the same result
    (percentage and Cohen's kappa), over one queue's items or the whole team's."""
    items = QueueItem.objects.filter(result__isnull=False).prefetch_related("annotations")
    if queue is not None:
        items = items.filter(queue=queue)
    verdicts = human_verdicts(items=items)
    if not verdicts:
        return []
    pairs = defaultdict(list)
    names = {}
    scores = (
        Score.objects.filter(result_id__in=list(verdicts), passed__isnull=False)
        .exclude(source="human")
        .select_related("evaluator")
        .order_by("evaluator_id", "result_id", "id")
    )
    for score in scores:
        key = score.evaluator_id or f"{score.source}:{score.label}"
        names[key] = score.evaluator_name or (
            score.evaluator.name if score.evaluator is not None else score.source
        )
        pairs[key].append((score.passed, verdicts[score.result_id]))
    return sorted((_agreement(names[k], p) for k, p in pairs.items()), key=lambda a: a.name)


def annotator_agreement(*, queue) -> tuple[Agreement | None, list[Agreement]]:
    """Between annotators of a queue: every pair of verdicts on the same item, pooled,
    and per pair of annotators."""
    by_item = defaultdict(list)
    rows = (
        Annotation.objects.filter(item__queue=queue, author__isnull=False)
        .order_by("item_id", "author_id")
        .values_list("item_id", "author_id", "author_label", "passed")
    )
    for item_id, author_id, label, passed in rows:
        by_item[item_id].append((author_id, label, passed))
    pooled, per_pair, labels = [], defaultdict(list), {}
    for verdicts in by_item.values():
        for (a_id, a_label, a), (b_id, b_label, b) in combinations(verdicts, 2):
            pooled.append((a, b))
            per_pair[(a_id, b_id)].append((a, b))
            labels[(a_id, b_id)] = f"{a_label} & {b_label}"
    if not pooled:
        return None, []
    pairs = sorted((_agreement(labels[k], v) for k, v in per_pair.items()), key=lambda a: a.name)
    return _agreement("All annotators", pooled), pairs
