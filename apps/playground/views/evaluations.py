"""Evaluating the playground's variants on a dataset: start the run, then its live results
(per variant and per row) on the playground page."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError
from apps.core.web import render_page, role_allows
from apps.datasets.selectors import dataset_for_field
from apps.experiments import comparison
from apps.experiments.selectors import evaluators_for_field, experiment_get
from apps.experiments.templatetags.experiment_tags import STEP_SCORE
from apps.playground import selectors, services
from apps.playground.inputs import parse_schema, variants_from_post
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

ROWS_SHOWN = 50  # rows on the playground; the experiment page pages through the rest


@require_POST
def evaluate(request):
    """Start an evaluation of every variant on the page; answers its results fragment."""
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "evaluate prompts"))
    version = selectors.version_named(request.POST.get("version_id"))
    try:
        prompt = selectors.prompt_for_field(
            request.POST.get("eval_prompt_id"), field="eval_prompt_id"
        )
        dataset = dataset_for_field(request.POST.get("eval_dataset"), field="eval_dataset")
        evaluators = evaluators_for_field(
            request.POST.getlist("eval_evaluators"), field="eval_evaluators"
        )
        sample = (request.POST.get("eval_sample") or "").strip() or None
        experiment = services.playground_evaluation_start(
            team=request.team,
            actor=request.user,
            prompt=prompt,
            variants=variants_from_post(request.POST, strict=True),
            variables_schema=parse_schema(request.POST),
            dataset=dataset,
            evaluators=evaluators,
            sample_size=sample,
            sample_seed=(request.POST.get("eval_seed") or "").strip() or 0,
            parent=version,
            cost_cap=(request.POST.get("eval_cost_cap") or "").strip() or None,
        )
    except ServiceError as exc:
        return render(
            request,
            "playground/evaluation.html#evaluation",
            {"error": exc.message, "error_field": exc.field},
            status=200,
        )
    return render(request, "playground/evaluation.html#evaluation", evaluation_context(experiment))


def evaluation_context(experiment) -> dict:
    loaded = comparison.load(experiment)
    summary = comparison.summarize(loaded)
    keys = comparison.matching_keys(loaded)[:ROWS_SHOWN]
    per_variant = []
    for variant in summary.variants:
        stats = next((s for s in summary.variant_stats if s.variant_id == variant.pk), None)
        per_variant.append(
            {
                "variant": variant,
                "stats": stats,
                "scores": [r for r in summary.rows if r.variant_id == variant.pk],
            }
        )
    rows = comparison.rows_for(loaded, keys, diff=False)
    for row in rows:
        for cell in row.cells:
            _keep_final_scores(cell)
    return {
        "experiment": experiment,
        "summary": summary,
        "per_variant": per_variant,
        "rows": rows,
        "rows_shown": ROWS_SHOWN,
    }


def _keep_final_scores(cell) -> None:
    """A chain cell's own scores are its final output's: its steps' ("<evaluator> ·
    <step>") show under each step (experiments/_result_steps.html)."""
    steps = (cell.result.steps if cell.result is not None else None) or []
    suffixes = tuple(f"{STEP_SCORE}{step.get('name')}" for step in steps)
    if suffixes:
        cell.scores = [(name, score) for name, score in cell.scores if not name.endswith(suffixes)]


def evaluation(request, experiment_id):
    """An evaluation's results; the fragment polls itself while the run is going."""
    experiment = experiment_get(experiment_id)
    return render_page(
        request, "playground/evaluation.html", evaluation_context(experiment), partial="evaluation"
    )
