"""Chains in the playground: a chain version (or the version a chain's tag points at) run
on the typed values (or a dataset row's), each step's prompt, output, latency and tokens
shown, or evaluated over a dataset with evaluators on the final output and each step.
Plain forms (htmx swaps the answer in place; without JavaScript the page comes back with
it, or the evaluation's page)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound, ServiceError
from apps.core.web import render_page, role_allows, team_url
from apps.datasets.selectors import (
    dataset_for_field,
    dataset_get,
    dataset_list,
    examples_at_revision,
)
from apps.experiments.selectors import evaluator_list, evaluators_for_field
from apps.playground import selectors, services
from apps.playground.inputs import parse_values
from apps.playground.views.evaluations import evaluation_context
from apps.prompts.models import Kind, PromptVersion
from apps.prompts.selectors import tags_of, version_at_tag
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

TAG_PREFIX = "tag:"
CHOICES = 100  # datasets, examples of one and evaluators offered
# The evaluation form's names for the fields the experiment services refuse.
FORM_FIELDS = {
    "evaluators": "eval_evaluators",
    "dataset": "eval_dataset",
    "sample_size": "eval_sample",
    "sample_seed": "eval_seed",
    "cost_cap": "eval_cost_cap",
}


@dataclass
class _ChainInputs:
    """What the variables form reads of a variant, for a chain's own input variables."""

    names: list[str]
    kind: str = "text"
    messages: list = field(default_factory=list)

    def variables(self) -> list[str]:
        return self.names


def chain_context(request, version: PromptVersion, values: dict, *, ref: str = "") -> dict:
    """The chain panel: the version's steps, the tags it may run at, its input fields, the
    datasets to fill them from or evaluate on, and the evaluators to attach."""
    from apps.playground.views.runs import variable_fields  # reason: one form builder

    return {
        "chain_version": version,
        "chain_tags": [t.name for t in tags_of(version.prompt)],
        "chain_ref": ref,
        "chain_fields": variable_fields(
            [_ChainInputs(list(version.variables or []))], version.variables_schema or {}, values
        ),
        "chain_datasets": list(dataset_list()[:CHOICES]),
        "chain_evaluators": list(evaluator_list()[:CHOICES]),
    }


def _opened(request) -> PromptVersion:
    """The chain version the page was opened on (its id posted as `version_id`)."""
    opened = selectors.version_named(request.POST.get("version_id"))
    if opened is None or opened.kind != Kind.CHAIN:
        raise NotFound("No such chain version.")
    return opened


def _raw_values(post) -> dict:
    return {k[4:]: v for k, v in post.items() if k.startswith("var-")}


def _page(request, opened: PromptVersion, values: dict, *, ref: str, status: int = 200, **extra):
    """The playground page on the chain, with `extra` (a result, an error, a picker)."""
    context = {
        "version": opened,
        "can_run": role_allows(request, PERM_EDIT),
        **chain_context(request, opened, values, ref=ref),
        **extra,
    }
    return render_page(request, "playground/playground.html", context, status=status)


def _chosen(version: PromptVersion, ref: str) -> PromptVersion:
    """The chain version the form chose: the opened one, or the one a tag points at."""
    if not ref.startswith(TAG_PREFIX):
        return version
    name = ref[len(TAG_PREFIX) :]
    found = version_at_tag(version.prompt, name)
    if found is None:
        raise NotFound(f"{version.prompt.name} has no tag {name!r}.")
    return found


@require_POST
def chain_run(request):
    """Run the chain and show its steps (htmx: the result; otherwise the whole page)."""
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "run prompts in the playground"))
    opened = _opened(request)
    ref = request.POST.get("ref", "")
    raw = _raw_values(request.POST)
    run = None
    error = ""
    status = 200
    try:
        version = _chosen(opened, ref)
        if version.kind != Kind.CHAIN:
            raise ServiceError(f"{version.prompt.name} v{version.number} is not a chain.")
        values = parse_values(
            request.POST, list(version.variables or []), version.variables_schema or {}, set()
        )
        run = services.playground_chain_run(
            team=request.team, actor=request.user, version=version, values=values
        )
    except NotFound as exc:
        error, status = exc.message, 400
    except ServiceError as exc:
        error, status = exc.message, exc.http_status
    context = {
        "version": opened,
        "chain_run": run,
        "chain_error": error,
        "can_run": True,
        **chain_context(request, opened, raw, ref=ref),
    }
    if getattr(request, "htmx", None):
        status = 200  # htmx swaps only 2xx answers: the error is shown in place
    return render_page(
        request, "playground/playground.html", context, partial="chain-result", status=status
    )


@require_POST
def chain_inputs(request):
    """The chain's input fields filled from a dataset row, as the playground's variables
    are (`fill_dataset` lists its examples; `example_choice` "<dataset_id>:<example_id>"
    with `fill` fills the fields). htmx: the fields; otherwise the page."""
    from apps.playground.views.runs import fill_from_example  # reason: one example filler

    opened = _opened(request)
    ref = request.POST.get("ref", "")
    values = _raw_values(request.POST)
    dataset = None
    examples: list = []
    error = ""
    if request.POST.get("fill_dataset"):
        try:
            dataset = dataset_get(request.POST["fill_dataset"])
        except NotFound:
            error = "That dataset could not be found."
        else:
            examples = list(examples_at_revision(dataset)[:CHOICES])
    choice = request.POST.get("example_choice", "") if request.POST.get("fill") else ""
    # A choice from another dataset's list (the dataset was changed since) is not filled.
    if choice and dataset is not None and choice.partition(":")[0] == str(dataset.pk):
        error = fill_from_example(values, choice)
    extra = {"fill_dataset": dataset, "fill_examples": examples, "fill_error": error}
    if getattr(request, "htmx", None):
        context = {"version": opened, **chain_context(request, opened, values, ref=ref), **extra}
        return render(request, "playground/playground.html#chain-inputs", context)
    return _page(request, opened, values, ref=ref, **extra)


@require_POST
def chain_evaluate(request):
    """Evaluate the chain (this version or the one at a tag) over a dataset or a seeded
    sample, evaluators on the final output and, when asked, on each step: an experiment.
    htmx: its live results fragment; otherwise its page (or the form's error)."""
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "evaluate prompts"))
    opened = _opened(request)
    ref = request.POST.get("ref", "")
    try:
        try:
            version = _chosen(opened, ref)
        except NotFound as exc:
            raise ServiceError(exc.message) from None
        dataset = dataset_for_field(request.POST.get("eval_dataset"), field="eval_dataset")
        evaluators = evaluators_for_field(
            request.POST.getlist("eval_evaluators"), field="eval_evaluators"
        )
        experiment = services.playground_chain_evaluation_start(
            team=request.team,
            actor=request.user,
            version=version,
            label=(
                f"{ref[len(TAG_PREFIX) :]} · v{version.number}"
                if ref.startswith(TAG_PREFIX)
                else ""
            ),
            dataset=dataset,
            evaluators=evaluators,
            sample_size=(request.POST.get("eval_sample") or "").strip() or None,
            sample_seed=(request.POST.get("eval_seed") or "").strip() or 0,
            score_steps=bool(request.POST.get("eval_score_steps")),
            cost_cap=(request.POST.get("eval_cost_cap") or "").strip() or None,
        )
    except ServiceError as exc:
        failed = {"error": exc.message, "error_field": FORM_FIELDS.get(exc.field, exc.field)}
        if getattr(request, "htmx", None):
            return render(request, "playground/evaluation.html#evaluation", failed)
        return _page(request, opened, {}, ref=ref, status=400, evaluation_failed=failed)
    if getattr(request, "htmx", None):
        return render(
            request, "playground/evaluation.html#evaluation", evaluation_context(experiment)
        )
    return redirect(team_url(request, "playground:evaluation", experiment_id=experiment.pk))
