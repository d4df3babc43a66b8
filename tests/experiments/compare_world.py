"""Experiments with hand-made results and scores (no model calls) for comparison tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

from apps.core.tenancy import team_scope


def make_experiment(
    team, actor, *, name="cmp", variants=("base", "cand"), dataset=None, prompt=None
):
    """An experiment with the given variant labels (the first is the baseline)."""
    from apps.datasets.services import dataset_create, example_create
    from apps.experiments.models import Experiment, Status, Variant
    from apps.prompts.services import prompt_create, version_create

    with team_scope(team):
        if dataset is None:
            dataset = dataset_create(team=team, actor=actor, name=f"ds-{name}")
            example_create(team=team, actor=actor, dataset=dataset, input={"q": "x"})
            dataset.refresh_from_db()
        if prompt is None:
            prompt = prompt_create(team=team, actor=actor, name=f"p-{name}")
        experiment = Experiment.objects.create(
            team=team,
            name=name,
            dataset=dataset,
            dataset_revision=dataset.current_revision,
            status=Status.COMPLETED,
        )
        out = []
        for i, label in enumerate(variants):
            version = version_create(
                team=team,
                actor=actor,
                prompt=prompt,
                kind="text",
                template=f"{label} {{{{ q }}}} {uuid.uuid4().hex[:6]}",
                commit_message=label,
            )
            out.append(
                Variant.objects.create(
                    team=team,
                    experiment=experiment,
                    prompt_version=version,
                    label=label,
                    is_baseline=i == 0,
                    position=i,
                )
            )
    return experiment, out


def add_cells(team, experiment, variants, outcomes, *, evaluator="exact", value_only=False,
              outputs=None, example_ids=None, latencies=None, repetition=0):  # fmt: skip
    """outcomes: one tuple per example, one pass/fail (or value) per variant."""
    from apps.experiments.models import ExperimentEvaluator, Result, Score

    with team_scope(team):
        if not ExperimentEvaluator.objects.filter(experiment=experiment, name=evaluator).exists():
            ExperimentEvaluator.objects.create(
                team=team, experiment=experiment, name=evaluator, kind="exact_match"
            )
        results, scores = [], []
        ids = example_ids or [uuid.uuid4() for _ in outcomes]
        for pos, (example_id, row) in enumerate(zip(ids, outcomes, strict=True)):
            for v_index, (variant, _outcome) in enumerate(zip(variants, row, strict=True)):
                out = outputs[pos][v_index] if outputs else f"out {pos} {variant.label}"
                results.append(
                    Result(
                        team=team,
                        experiment=experiment,
                        variant=variant,
                        example_id=example_id,
                        position=pos,
                        repetition=repetition,
                        input={"q": f"question {pos}"},
                        expected=f"answer {pos}",
                        output=out,
                        latency_ms=(latencies[v_index][pos] if latencies else 100 + pos),
                        input_tokens=10,
                        output_tokens=5,
                        cost=Decimal("0.001"),
                    )
                )
        Result.objects.bulk_create(results, batch_size=2000)
        # bulk_create sets pks on PostgreSQL and SQLite 3.35+.
        i = 0
        for row in outcomes:
            for outcome in row:
                result = results[i]
                i += 1
                if outcome is None:
                    continue
                scores.append(
                    Score(
                        team=team,
                        result=result,
                        experiment=experiment,
                        evaluator_name=evaluator,
                        value=float(outcome),
                        passed=None if value_only else bool(outcome),
                        label="" if value_only else ("pass" if outcome else "fail"),
                        source="code",
                    )
                )
        Score.objects.bulk_create(scores, batch_size=2000)
    return ids
