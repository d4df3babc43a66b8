"""Experiment and evaluator pages. Thin: selectors read, services write; htmx gets fragments."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import NotFound, PermissionRefused, ServiceError
from apps.core.pagination import paginate
from apps.experiments import selectors, services
from apps.experiments.forms import EvaluatorForm, ExperimentForm, kinds_help
from apps.experiments.models import Status
from apps.teams.models import PERM_EDIT, ROLE_PERMISSIONS

PER_PAGE = 50


def _can_edit(request) -> bool:
    membership = request.membership
    return membership is not None and PERM_EDIT in ROLE_PERMISSIONS.get(membership.role, [])


def _url(name: str, request, **kwargs) -> str:
    return reverse(f"experiments:{name}", kwargs={"team_slug": request.team.slug, **kwargs})


def _experiment(experiment_id):
    try:
        return selectors.experiment_get(experiment_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _evaluator(evaluator_id):
    try:
        return selectors.evaluator_get(evaluator_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _add_error(form, exc: ServiceError):
    if isinstance(exc, PermissionRefused):
        raise PermissionDenied(exc.message)
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


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
            "status": status,
            "statuses": Status.choices,
            "can_edit": _can_edit(request),
        },
    )


# --- new experiment --------------------------------------------------------------------


def _initial(request) -> dict:
    from apps.datasets.models import Dataset
    from apps.prompts.models import PromptVersion

    initial = {"repetitions": 1, "concurrency": 8}
    version_id = request.GET.get("version")
    version = None
    if version_id and str(version_id).isdigit():
        version = PromptVersion.objects.select_related("prompt").filter(pk=version_id).first()
    if version is not None:
        initial["versions"] = [version.pk]
        initial["name"] = f"{version.prompt.name} v{version.number}"
        if not (version.model_settings or {}).get("provider_id"):
            from apps.llm.models import ProviderConfig

            provider = ProviderConfig.objects.order_by("-is_demo", "name").first()
            if provider is not None:
                initial["provider"] = provider.pk
    dataset_id = request.GET.get("dataset")
    dataset = None
    if dataset_id and str(dataset_id).isdigit():
        dataset = Dataset.objects.filter(pk=dataset_id).first()
    dataset = dataset or Dataset.objects.order_by("name").first()
    if dataset is not None:
        initial["dataset"] = dataset.pk
        if version is not None:
            initial["name"] = f"{version.prompt.name} v{version.number} on {dataset.name}"
    return initial


def _estimate_for(form) -> tuple[object | None, str]:
    """An Estimate for a valid form, or (None, why not)."""
    if not form.is_valid():
        return None, "Fill in the dataset and at least one prompt version to see the estimate."
    data = form.cleaned_data
    dataset = data["dataset"]
    revision = data.get("dataset_revision")
    if revision is None:
        revision = dataset.current_revision
    if revision > dataset.current_revision:
        return None, f"Dataset {dataset.name} has no revision {revision}."
    pairs = []
    try:
        for spec in form.variant_specs():
            pairs.append(
                (
                    spec.prompt_version,
                    services.effective_settings(spec.prompt_version, spec.overrides),
                )
            )
    except ServiceError as exc:
        return None, exc.message
    judges = sum(1 for e in data.get("evaluators") or [] if e.kind == "llm_judge")
    estimate = services.estimate(
        dataset=dataset,
        revision=revision,
        split=data.get("split") or "",
        variants=pairs,
        repetitions=data["repetitions"],
        cap=data.get("cost_cap"),
        judges=judges,
    )
    return estimate, ""


@require_http_methods(["GET", "POST"])
def experiment_new(request):
    if not _can_edit(request):
        raise PermissionDenied("Viewers cannot start experiments.")
    if request.method == "POST":
        form = ExperimentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
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
                )
                if request.POST.get("action") != "draft":
                    services.experiment_start(
                        team=request.team, actor=request.user, experiment=experiment
                    )
            except ServiceError as exc:
                _add_error(form, exc)
            else:
                messages.success(
                    request,
                    "Experiment saved as a draft."
                    if request.POST.get("action") == "draft"
                    else "Experiment queued: a worker picks it up shortly.",
                )
                return redirect(_url("detail", request, experiment_id=experiment.pk))
        estimate, why = _estimate_for(form) if form.is_bound else (None, "")
    else:
        form = ExperimentForm(initial=_initial(request))
        bound = ExperimentForm(_initial_as_data(form.initial))
        estimate, why = _estimate_for(bound)
    return render(
        request,
        "experiments/new.html",
        {"form": form, "estimate": estimate, "estimate_note": why},
    )


def _initial_as_data(initial: dict):
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    for key, value in initial.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value is not None:
            data[key] = str(value)
    data.setdefault("name", "estimate")
    return data


@require_GET
def experiment_estimate(request):
    data = request.GET.copy()
    data.setdefault("name", "estimate")
    estimate, why = _estimate_for(ExperimentForm(data))
    return render(
        request,
        "experiments/new.html#estimate",
        {"estimate": estimate, "estimate_note": why},
    )


# --- one experiment --------------------------------------------------------------------


def _progress_context(request, experiment) -> dict:
    return {
        "experiment": experiment,
        "can_edit": _can_edit(request),
        "can_resume": services.can_resume(experiment),
        "stale": services.is_stale(experiment),
    }


def _with_providers(variants):
    """Sets `provider_name` on each variant (one query), for "provider · model" labels."""
    from apps.llm.models import ProviderConfig

    ids = {str(v.settings.get("provider_id")) for v in variants if v.settings.get("provider_id")}
    names = {
        str(pk): name
        for pk, name in ProviderConfig.objects.filter(
            pk__in=[i for i in ids if i.isdigit()]
        ).values_list("pk", "name")
    }
    for variant in variants:
        variant.provider_name = names.get(str(variant.settings.get("provider_id")), "")
    return variants


@require_GET
def experiment_detail(request, experiment_id):
    experiment = _experiment(experiment_id)
    variant_id = request.GET.get("variant") or None
    if variant_id and not str(variant_id).isdigit():
        variant_id = None
    errors_only = request.GET.get("errors") == "1"
    failed_only = request.GET.get("failed") == "1"
    page = paginate(
        request,
        selectors.results_of(
            experiment, variant_id=variant_id, errors_only=errors_only, failed_only=failed_only
        ),
        per_page=PER_PAGE,
    )
    context = {
        **_progress_context(request, experiment),
        "variants": _with_providers(selectors.variants_of(experiment)),
        "evaluator_links": selectors.evaluators_of(experiment),
        "summary": selectors.summary(experiment),
        "page": page,
        "variant_filter": int(variant_id) if variant_id else None,
        "errors_only": errors_only,
        "failed_only": failed_only,
    }
    if request.htmx and request.htmx.target == "results":
        return render(request, "experiments/detail.html#results", context)
    return render(request, "experiments/detail.html", context)


@require_GET
def experiment_progress(request, experiment_id):
    experiment = _experiment(experiment_id)
    response = render(
        request, "experiments/detail.html#progress", _progress_context(request, experiment)
    )
    if request.GET.get("was") in ("queued", "running") and not experiment.is_active:
        # The run just ended: the page reloads its results and summary.
        response["HX-Refresh"] = "true"
    return response


def _action(request, experiment_id, fn, done_message: str, **extra):
    experiment = _experiment(experiment_id)
    try:
        fn(team=request.team, actor=request.user, experiment=experiment, **extra)
    except PermissionRefused as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done_message)
    return redirect(_url("detail", request, experiment_id=experiment.pk))


@require_POST
def experiment_start(request, experiment_id):
    return _action(request, experiment_id, services.experiment_start, "Experiment queued.")


@require_POST
def experiment_cancel(request, experiment_id):
    return _action(request, experiment_id, services.experiment_cancel, "Cancel requested.")


@require_POST
def experiment_resume(request, experiment_id):
    extra = {}
    if request.POST.get("cost_cap") not in (None,):
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
    experiment = _experiment(experiment_id)
    try:
        services.experiment_delete(team=request.team, actor=request.user, experiment=experiment)
    except PermissionRefused as exc:
        raise PermissionDenied(exc.message) from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(_url("detail", request, experiment_id=experiment.pk))
    messages.success(request, f"Deleted experiment {experiment.name}.")
    return redirect(_url("list", request))


# --- evaluators ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def evaluators_list(request):
    form = EvaluatorForm(request.POST or None, initial={"params": "{}"})
    if request.method == "POST":
        if not _can_edit(request):
            raise PermissionDenied("Viewers cannot create evaluators.")
        if form.is_valid():
            try:
                evaluator = services.evaluator_create(
                    team=request.team,
                    actor=request.user,
                    **form.cleaned_data,  # name, kind, params, description
                )
            except ServiceError as exc:
                _add_error(form, exc)
            else:
                messages.success(request, f"Evaluator {evaluator.name} created.")
                return redirect(_url("evaluators", request))
    return render(
        request,
        "experiments/evaluators.html",
        {
            "evaluators": selectors.evaluator_list(),
            "form": form,
            "kinds": kinds_help(),
            "can_edit": _can_edit(request),
        },
    )


@require_http_methods(["GET", "POST"])
def evaluator_edit(request, evaluator_id):
    evaluator = _evaluator(evaluator_id)
    initial = {
        "name": evaluator.name,
        "kind": evaluator.kind,
        "params": json.dumps(evaluator.params, indent=2),
        "description": evaluator.description,
    }
    form = EvaluatorForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not _can_edit(request):
            raise PermissionDenied("Viewers cannot edit evaluators.")
        if form.is_valid():
            try:
                services.evaluator_update(
                    team=request.team,
                    actor=request.user,
                    evaluator=evaluator,
                    **form.cleaned_data,  # name, kind, params, description
                )
            except ServiceError as exc:
                _add_error(form, exc)
            else:
                messages.success(request, f"Evaluator {form.cleaned_data['name']} saved.")
                return redirect(_url("evaluators", request))
    return render(
        request,
        "experiments/evaluator_edit.html",
        {
            "evaluator": evaluator,
            "form": form,
            "kinds": kinds_help(),
            "can_edit": _can_edit(request),
        },
    )


@require_POST
def evaluator_delete(request, evaluator_id):
    evaluator = _evaluator(evaluator_id)
    try:
        services.evaluator_delete(team=request.team, actor=request.user, evaluator=evaluator)
    except PermissionRefused as exc:
        raise PermissionDenied(exc.message) from None
    messages.success(request, f"Evaluator {evaluator.name} deleted; its past scores keep its name.")
    return redirect(_url("evaluators", request))
