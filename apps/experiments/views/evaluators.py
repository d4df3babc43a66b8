"""Evaluator pages: the team's evaluators (with the create form), edit, delete."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.web import errors_on, role_allows, team_url
from apps.experiments import selectors, services
from apps.experiments.forms import EvaluatorForm, kinds_help
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal


@require_http_methods(["GET", "POST"])
def evaluators_list(request):
    form = EvaluatorForm(request.POST or None)
    can_edit = role_allows(request, PERM_EDIT)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(refusal(request, PERM_EDIT, "create evaluators"))
        if form.is_valid():
            with errors_on(form):
                evaluator = services.evaluator_create(
                    team=request.team, actor=request.user, **form.evaluator_fields()
                )
                messages.success(request, f"Evaluator {evaluator.name} created.")
                return redirect(team_url(request, "experiments:evaluators"))
    return render(
        request,
        "experiments/evaluators.html",
        {
            "evaluators": selectors.evaluator_list(),
            "form": form,
            "kinds": kinds_help(),
            "can_edit": can_edit,
        },
    )


@require_http_methods(["GET", "POST"])
def evaluator_edit(request, evaluator_id):
    evaluator = selectors.evaluator_get(evaluator_id)
    initial = {
        "name": evaluator.name,
        "kind": evaluator.kind,
        "description": evaluator.description,
    }
    form = EvaluatorForm(request.POST or None, initial=initial, params=evaluator.params)
    can_edit = role_allows(request, PERM_EDIT)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(refusal(request, PERM_EDIT, "edit evaluators"))
        if form.is_valid():
            with errors_on(form):
                services.evaluator_update(
                    team=request.team,
                    actor=request.user,
                    evaluator=evaluator,
                    **form.evaluator_fields(),
                )
                messages.success(request, f"Evaluator {form.cleaned_data['name']} saved.")
                return redirect(team_url(request, "experiments:evaluators"))
    return render(
        request,
        "experiments/evaluator_edit.html",
        {"evaluator": evaluator, "form": form, "kinds": kinds_help(), "can_edit": can_edit},
    )


@require_POST
def evaluator_delete(request, evaluator_id):
    evaluator = selectors.evaluator_get(evaluator_id)
    # A refusal escapes to ServiceErrorMiddleware (403).
    services.evaluator_delete(team=request.team, actor=request.user, evaluator=evaluator)
    messages.success(request, f"Evaluator {evaluator.name} deleted; its past scores keep its name.")
    return redirect(team_url(request, "experiments:evaluators"))
