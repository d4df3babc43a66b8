"""Experiment pages: the list, a new run (with its cost estimate), one experiment's progress
and results, and the run's actions. Thin: selectors read, services write."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ServiceError
from apps.core.pagination import paginate
from apps.core.web import errors_on, refusal_as_message, render_page, role_allows, team_url
from apps.experiments import estimates, selectors, services
from apps.experiments.forms import ExperimentForm, baseline_key
from apps.experiments.models import Status
from apps.llm.onboarding import setup_offer_context
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import require_role_for

PER_PAGE = 50


# --- list ------------------------------------------------------------------------------


@require_GET
def experiments_list(request):
    status = request.GET.get("status", "")
    if status not in Status.values:
        status = ""
    page = paginate(request, selectors.experiment_list(status=status), per_page=PER_PAGE)
    rates = selectors.pass_rates(e.pk for e in page.object_list)
    for experiment in page.object_list:
        experiment.pass_rate = rates.get(experiment.pk)
    return render(
        request,
        "experiments/list.html",
        {
            "page": page,
            "query": urlencode({"status": status}) if status else "",
            "status": status,
            "statuses": Status.choices,
            "can_edit": role_allows(request, PERM_EDIT),
            **setup_offer_context(request),
        },
    )


# --- new experiment --------------------------------------------------------------------


def _initial(request) -> dict[str, Any]:
    initial: dict[str, Any] = {"repetitions": 1, "concurrency": 8}
    version = selectors.prompt_version_or_none(request.GET.get("version"))
    form = ExperimentForm(team=request.team)
    initial["models"] = form.default_model_keys(version)
    if version is not None:
        initial["versions"] = [version.pk]
        initial["name"] = f"{version.prompt.name} v{version.number}"
        initial["baseline"] = baseline_key(version.pk, initial["models"][0])
    dataset = selectors.dataset_or_none(request.GET.get("dataset")) or selectors.default_dataset()
    if dataset is not None:
        initial["dataset"] = dataset.pk
        if version is not None:
            initial["name"] = f"{version.prompt.name} v{version.number} on {dataset.name}"
    return initial


def _estimate_for(form) -> tuple[object | None, str]:
    """An Estimate for a valid form, or (None, why not)."""
    if not form.is_valid():
        if form.errors.keys() - {"baseline", "name"}:
            return None, "Fill in the dataset and at least one prompt version to see the estimate."
    data = form.cleaned_data
    if not data.get("dataset") or not data.get("versions"):
        return None, "Fill in the dataset and at least one prompt version to see the estimate."
    try:
        estimate = estimates.estimate_specs(
            dataset=data["dataset"],
            revision=data.get("dataset_revision"),
            split=data.get("split") or "",
            specs=form.variant_specs(),
            repetitions=data.get("repetitions") or 1,
            cap=data.get("cost_cap"),
            evaluators=data.get("evaluators") or [],
            team=form.team,
        )
    except ServiceError as exc:
        return None, exc.message
    return estimate, ""


def _initial_as_data(initial: dict) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in initial.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value is not None:
            data[key] = str(value)
    data.setdefault("name", "estimate")
    return data


def _new_context(request, form, preview) -> dict:
    """The page's context: `preview` is a bound form of what the page shows (the posted
    form, or the initial values as data) for the variants plan and the estimate."""
    estimate, why = _estimate_for(preview)
    plan = preview.plan() if hasattr(preview, "cleaned_data") else []
    return {
        "form": form,
        "plan": plan,
        "plan_needs_baseline": len(plan) > 1 and not any(row.is_baseline for row in plan),
        "estimate": estimate,
        "estimate_note": why,
        **setup_offer_context(request),
    }


@require_http_methods(["GET", "POST"])
def experiment_new(request):
    require_role_for(request, PERM_EDIT, "start experiments")
    if request.method == "POST":
        form = ExperimentForm(request.POST, team=request.team)
        draft = request.POST.get("action") == "draft"
        if form.is_valid():
            data = form.cleaned_data
            with errors_on(form):
                experiment = services.experiment_create(
                    team=request.team,
                    actor=request.user,
                    name=data["name"],
                    dataset=data["dataset"],
                    dataset_revision=data.get("dataset_revision"),
                    split=data.get("split") or "",
                    variants=form.variant_specs(),
                    evaluators=list(data.get("evaluators") or []),
                    repetitions=data["repetitions"],
                    concurrency=data["concurrency"],
                    cost_cap=data.get("cost_cap"),
                    allow_unpriced=data.get("allow_unpriced", False),
                )
                if not draft:
                    services.experiment_start(
                        team=request.team, actor=request.user, experiment=experiment
                    )
                messages.success(
                    request,
                    "Experiment saved as a draft."
                    if draft
                    else "Experiment queued: a worker picks it up shortly.",
                )
                return redirect(
                    team_url(request, "experiments:detail", experiment_id=experiment.pk)
                )
        context = _new_context(request, form, form)
    else:
        form = ExperimentForm(initial=_initial(request), team=request.team)
        preview = ExperimentForm(_initial_as_data(form.initial), team=request.team)
        context = _new_context(request, form, preview)
    return render(request, "experiments/new.html", context)


@require_GET
def experiment_estimate(request):
    """The estimate fragment for the new-experiment form as it stands, and (out of band)
    the variants it would create with their baseline choice."""
    data = request.GET.copy()
    data.setdefault("name", "estimate")
    # No error for a missing baseline while the form is being filled in: the plan asks.
    form = ExperimentForm(data, team=request.team, require_baseline=False)
    context = _new_context(request, form, form)
    context["plan_oob"] = True
    return render(request, "experiments/new.html#estimate", context)


# --- one experiment --------------------------------------------------------------------


def _progress_context(request, experiment) -> dict:
    return {
        "experiment": experiment,
        "can_edit": role_allows(request, PERM_EDIT),
        "can_resume": selectors.can_resume(experiment),
        "stale": selectors.is_stale(experiment),
    }


def _with_providers(variants):
    """Sets `provider_name` on each variant (one query), for "provider · model" labels."""
    names = selectors.provider_names(
        v.settings.get("provider_id") for v in variants if v.settings.get("provider_id")
    )
    for variant in variants:
        variant.provider_name = names.get(str(variant.settings.get("provider_id")), "")
    return variants


@require_GET
def experiment_detail(request, experiment_id):
    experiment = selectors.experiment_get(experiment_id)
    variant_id = request.GET.get("variant") or None
    if variant_id and not str(variant_id).isdigit():
        variant_id = None
    errors_only = request.GET.get("errors") == "1"
    failed_only = request.GET.get("failed") == "1"
    page = selectors.results_page(
        experiment,
        params=request.GET,
        variant_id=variant_id,
        errors_only=errors_only,
        failed_only=failed_only,
        per_page=PER_PAGE,
    )
    filters = {"errors": 1} if errors_only else {}
    filters |= {"failed": 1} if failed_only else {}
    filters |= {"variant": int(variant_id)} if variant_id else {}
    context = {
        **_progress_context(request, experiment),
        "variants": _with_providers(selectors.variants_of(experiment)),
        "evaluator_links": selectors.evaluators_of(experiment),
        "summary": selectors.summary(experiment),
        "page": page,
        "query": urlencode(filters),
        "variant_filter": int(variant_id) if variant_id else None,
        "errors_only": errors_only,
        "failed_only": failed_only,
    }
    # Only the results' own links swap the fragment (a history restore wants the page).
    partial = "results" if request.htmx.target == "results" else None
    return render_page(request, "experiments/detail.html", context, partial=partial)


@require_GET
def experiment_progress(request, experiment_id):
    experiment = selectors.experiment_get(experiment_id)
    response = render(
        request, "experiments/detail.html#progress", _progress_context(request, experiment)
    )
    if request.GET.get("was") in ("queued", "running") and not experiment.is_active:
        # The run just ended: the page reloads its results and summary.
        response["HX-Refresh"] = "true"
    return response


def _action(request, experiment_id, service, done_message: str, **extra):
    experiment = selectors.experiment_get(experiment_id)
    with refusal_as_message(request):
        service(team=request.team, actor=request.user, experiment=experiment, **extra)
        messages.success(request, done_message)
    return redirect(team_url(request, "experiments:detail", experiment_id=experiment.pk))


@require_POST
def experiment_start(request, experiment_id):
    return _action(request, experiment_id, services.experiment_start, "Experiment queued.")


@require_POST
def experiment_cancel(request, experiment_id):
    return _action(request, experiment_id, services.experiment_cancel, "Cancel requested.")


@require_POST
def experiment_resume(request, experiment_id):
    extra = {}
    if request.POST.get("cost_cap") is not None:
        extra["cost_cap"] = request.POST.get("cost_cap") or None
    return _action(
        request,
        experiment_id,
        services.experiment_resume,
        "Resumed: only the cells without a result will run.",
        **extra,
    )


@require_POST
def experiment_delete(request, experiment_id):
    experiment = selectors.experiment_get(experiment_id)
    with refusal_as_message(request) as outcome:
        services.experiment_delete(team=request.team, actor=request.user, experiment=experiment)
    if outcome.refused:
        return redirect(team_url(request, "experiments:detail", experiment_id=experiment.pk))
    messages.success(request, f"Deleted experiment {experiment.name}.")
    return redirect(team_url(request, "experiments:list"))
