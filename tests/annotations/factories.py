"""Experiments with results and automatic scores, built straight on the models.

The experiments app owns running experiments; these tests need only rows to annotate.
"""

from __future__ import annotations

import uuid

from apps.core.tenancy import team_scope


def example_uuid(key) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"promptyard-test-example-{key}")


def make_experiment(team, actor, *, name="Support answers", variants=("v1", "v2"), cells=()):
    """cells: dicts {variant, example, output, scores: {evaluator name: passed}, error}.

    The first variant is the baseline. Returns (experiment, {label: variant}, {name: evaluator}).
    """
    from apps.datasets.services import dataset_create
    from apps.experiments.models import Evaluator, Experiment, Result, Score, Variant
    from apps.prompts.services import prompt_create, version_create

    with team_scope(team):
        dataset = dataset_create(team=team, actor=actor, name=f"{name} data")
        prompt = prompt_create(team=team, actor=actor, name=f"p-{uuid.uuid4().hex[:8]}")
        experiment = Experiment.objects.create(
            team=team, name=name, dataset=dataset, dataset_revision=0, status="completed"
        )
        by_label = {}
        for position, label in enumerate(variants):
            version = version_create(
                team=team,
                actor=actor,
                prompt=prompt,
                kind="text",
                template=f"Answer {{{{ question }}}} ({label})",
                commit_message=label,
            )
            by_label[label] = Variant.objects.create(
                team=team,
                experiment=experiment,
                prompt_version=version,
                label=label,
                is_baseline=position == 0,
                position=position,
            )
        evaluators = {}
        for cell in cells:
            result = Result.objects.create(
                team=team,
                experiment=experiment,
                variant=by_label[cell["variant"]],
                example_id=example_uuid(cell["example"]),
                position=cell["example"],
                repetition=cell.get("repetition", 0),
                input={"question": f"Question {cell['example']}?"},
                expected=cell.get("expected", f"Answer {cell['example']}"),
                output=cell.get("output", f"Output {cell['example']}"),
                error=cell.get("error", ""),
            )
            for evaluator_name, passed in cell.get("scores", {}).items():
                if evaluator_name not in evaluators:
                    evaluators[evaluator_name], _ = Evaluator.objects.get_or_create(
                        team=team, name=evaluator_name, defaults={"kind": "exact_match"}
                    )
                Score.objects.create(
                    team=team,
                    result=result,
                    experiment=experiment,
                    evaluator=evaluators[evaluator_name],
                    evaluator_name=evaluator_name,
                    value=1.0 if passed else 0.0,
                    passed=passed,
                    label="pass" if passed else "fail",
                    source="llm" if "judge" in evaluator_name else "code",
                )
    return experiment, by_label, evaluators
