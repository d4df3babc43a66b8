"""The list of datasets, a dataset's settings, and deleting one."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import Conflict
from apps.core.web import errors_on, role_allows, team_url
from apps.datasets import selectors, services
from apps.datasets.forms import DatasetForm
from apps.teams.models import PERM_EDIT


@require_http_methods(["GET", "POST"])
def datasets_list(request):
    form = DatasetForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            with errors_on(form):
                dataset = services.dataset_create(
                    team=request.team,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                )
                messages.success(request, f"Created dataset {dataset.name}.")
                return redirect(team_url(request, "datasets:detail", dataset_id=dataset.pk))
    return render(
        request,
        "datasets/list.html",
        {
            "datasets": selectors.dataset_list(),
            "form": form,
            "can_edit": role_allows(request, PERM_EDIT),
        },
    )


@require_http_methods(["GET", "POST"])
def dataset_settings(request, dataset_id):
    dataset = selectors.dataset_get(dataset_id)
    form = DatasetForm(
        request.POST or None, initial={"name": dataset.name, "description": dataset.description}
    )
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            services.dataset_update(
                team=request.team,
                actor=request.user,
                dataset=dataset,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
            messages.success(request, "Saved.")
            return redirect(team_url(request, "datasets:detail", dataset_id=dataset.pk))
    return render(
        request,
        "datasets/settings.html",
        {"dataset": dataset, "form": form, "can_edit": role_allows(request, PERM_EDIT)},
    )


@require_POST
def dataset_delete(request, dataset_id):
    dataset = selectors.dataset_get(dataset_id)
    try:
        services.dataset_delete(team=request.team, actor=request.user, dataset=dataset)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect(team_url(request, "datasets:settings", dataset_id=dataset.pk))
    messages.success(request, f"Deleted dataset {dataset.name}.")
    return redirect(team_url(request, "datasets:list"))
