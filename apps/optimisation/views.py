"""Optimisation pages: the start form (from a version's page), the runs, one run's live
progress with its score curve, its actions, and the promotion request of its best version.
Thin: selectors read, services write."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ServiceError
from apps.core.web import errors_on, refusal_as_message, render_page, role_allows, team_url
from apps.optimisation import charts, selectors, services
from apps.optimisation.evidence import evidence_ref, evidence_text
from apps.optimisation.forms import OptimisationForm
from apps.optimisation.models import RunStatus
from apps.prompts import gates
from apps.prompts.diffing import unified
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import require_role_for


@require_GET
def runs_list(request):
    return render_page(
        request,
        "optimisation/list.html",
        {"runs": selectors.runs_list(), "can_edit": role_allows(request, PERM_EDIT)},
    )


@require_http_methods(["GET", "POST"])
def run_new(request):
    require_role_for(request, PERM_EDIT, "start optimisation runs")
    version = selectors.version_for_field(request.GET.get("version") or request.POST.get("version"))
    form = OptimisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        task_provider, task_model = form.model_of("task_model")
        reflection_provider, reflection_model = form.model_of("reflection_model")
        with errors_on(form, fields={"prompt_version": "__all__"}):
            run = services.optimisation_run_create(
                team=request.team,
                actor=request.user,
                prompt_version=version,
                dataset=data["dataset"],
                evaluators=list(data["evaluators"]),
                name=data.get("name") or "",
                train_split=data.get("train_split") or "",
                validation_split=data.get("validation_split") or "",
                validation_share=data.get("validation_share"),
                annotation_queue=data.get("annotation_queue"),
                task_provider_id=task_provider,
                task_model=task_model,
                reflection_provider_id=reflection_provider,
                reflection_model=reflection_model,
                max_rounds=data["max_rounds"],
                max_calls=data["max_calls"],
                max_cost=data.get("max_cost"),
            )
            services.optimisation_run_start(team=request.team, actor=request.user, run=run)
            messages.success(request, "Optimisation queued.")
            return redirect(team_url(request, "optimisation:detail", optimisation_id=run.pk))
    return render_page(request, "optimisation/new.html", {"form": form, "version": version})


def _progress_context(request, run):
    rounds = selectors.run_rounds(run)
    return {
        "run": run,
        "rounds": rounds,
        "curve": charts.score_curve(selectors.start_train_score(run), rounds),
        "can_edit": role_allows(request, PERM_EDIT),
    }


def _proposal_rows(proposals, candidates) -> list[dict]:
    """Each proposal with its parent's version and, per rewritten part, a diff to it."""
    versions = {c.index: c.version for c in candidates}
    rows = []
    for proposal in proposals:
        changed = [
            {
                "name": name,
                "lines": unified(
                    proposal.parent_components.get(name, ""),
                    text,
                    old_name="parent",
                    new_name="proposal",
                ),
            }
            for name, text in proposal.components.items()
            if text != proposal.parent_components.get(name)
        ]
        rows.append(
            {
                "proposal": proposal,
                "parent_version": versions.get(proposal.parent_index),
                "version": versions.get(proposal.candidate_index) if proposal.accepted else None,
                "changed": changed,
            }
        )
    return rows


@require_GET
def run_detail(request, optimisation_id):
    run = selectors.run_get(optimisation_id)
    candidates = selectors.run_candidates(run)
    context = {
        **_progress_context(request, run),
        "candidates": candidates,
        "proposals": _proposal_rows(selectors.run_proposals(run), candidates),
    }
    return render_page(request, "optimisation/detail.html", context)


@require_GET
def run_progress(request, optimisation_id):
    run = selectors.run_get(optimisation_id)
    response = render_page(
        request, "optimisation/detail.html", _progress_context(request, run), partial="progress"
    )
    if request.GET.get("was") in (RunStatus.QUEUED, RunStatus.RUNNING) and not run.is_active:
        response["HX-Refresh"] = "true"  # the run just ended: show its comparison
    return response


def _action(request, optimisation_id, service, done: str):
    run = selectors.run_get(optimisation_id)
    with refusal_as_message(request):
        service(team=request.team, actor=request.user, run=run)
        messages.success(request, done)
    return redirect(team_url(request, "optimisation:detail", optimisation_id=run.pk))


@require_POST
def run_cancel(request, optimisation_id):
    return _action(
        request,
        optimisation_id,
        services.optimisation_run_cancel,
        "Cancel requested: it stops after the current round.",
    )


@require_POST
def run_resume(request, optimisation_id):
    return _action(
        request,
        optimisation_id,
        services.optimisation_run_resume,
        "Resumed: stored evaluations are read back, only what is missing is called.",
    )


@require_http_methods(["GET", "POST"])
def run_promotion(request, optimisation_id):
    """The promotion request of the best version: the run is its evidence (pre-filled, with
    room for more), its description the validation comparison in words."""
    require_role_for(request, PERM_EDIT, "request promotions")
    run = selectors.run_get(optimisation_id)
    tag_name = request.POST.get("tag_name") or request.GET.get("tag") or "production"
    description = request.POST.get("description")
    evidence = request.POST.get("evidence")
    error = None
    if request.method == "POST":
        try:
            promotion = services.optimisation_promotion_create(
                team=request.team,
                actor=request.user,
                run=run,
                tag_name=tag_name,
                description=description,
                evidence=gates.evidence_refs((evidence or "").replace(",", " ").split()),
            )
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(request, f"Promotion requested: #{promotion.pk}.")
            return redirect(team_url(request, "prompts:promotion", promotion_id=promotion.pk))
    context = {
        "run": run,
        "tag_name": tag_name,
        "description": evidence_text(run) if description is None else description,
        "evidence": evidence_ref(run) if evidence is None else evidence,
        "error": error,
    }
    return render_page(request, "optimisation/promotion.html", context)
