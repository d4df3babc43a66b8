"""A dataset's page: the table of one revision, and the inline writes to its examples."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from apps.core.web import errors_on, render_page, role_allows, team_url
from apps.datasets import selectors, services
from apps.datasets.forms import ExampleForm, int_or_none
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

PER_PAGE = 50
REVISION_CHOICES = 50


def _revision_choices(current: int, shown: int) -> list[int]:
    """The newest revisions (older ones are reached from the revisions page), and the shown one."""
    numbers = list(range(current, max(current - REVISION_CHOICES, -1), -1))
    if shown not in numbers:
        numbers.append(shown)
    return numbers


def _table_context(request, dataset_id, params=None) -> dict:
    params = params if params is not None else request.GET
    revision = selectors.revision_with_dataset(dataset_id, int_or_none(params.get("revision")))
    dataset = revision.dataset
    split = (params.get("split") or "").strip()
    search = (params.get("q") or "").strip()
    page = selectors.examples_page(
        revision, split=split, search=search, params=params, per_page=PER_PAGE
    )
    is_current = revision.number == dataset.current_revision
    filters = {k: v for k, v in (("q", search), ("split", split)) if v}
    if not is_current:
        filters["revision"] = revision.number
    return {
        "dataset": dataset,
        "revision": revision,
        "is_current": is_current,
        "revision_numbers": _revision_choices(dataset.current_revision, revision.number),
        "page": page,
        "split": split,
        "q": search,
        "query": urlencode(filters),
        "can_edit": role_allows(request, PERM_EDIT) and is_current,
        "example_form": ExampleForm(),
    }


@require_GET
def dataset_detail(request, dataset_id):
    return render_page(
        request, "datasets/detail.html", _table_context(request, dataset_id), partial="table"
    )


def _after_write(request, dataset_id, message: str):
    """After an inline write: htmx gets the fresh table (the new current revision)."""
    messages.success(request, message)
    if request.htmx:
        params = request.POST.copy()
        params.pop("revision", None)
        response = render(
            request, "datasets/detail.html#table", _table_context(request, dataset_id, params)
        )
        # The form targeted its own row; a successful write replaces the whole table.
        return reswap(retarget(response, "#dataset-table"), "outerHTML")
    return redirect(team_url(request, "datasets:detail", dataset_id=dataset_id))


def _example_form_error(request, dataset, form, *, row=None, status=200):
    context = {"dataset": dataset, "form": form, "row": row, "can_edit": True}
    if request.htmx:
        template = "datasets/detail.html#row_edit" if row else "datasets/detail.html#add_form"
        return render(request, template, context, status=status)
    return render(request, "datasets/example_edit.html", context, status=status)


@require_POST
def example_add(request, dataset_id):
    dataset = selectors.dataset_get(dataset_id)
    form = ExampleForm(request.POST)
    if form.is_valid():
        with errors_on(form):
            services.example_create(
                team=request.team,
                actor=request.user,
                dataset=dataset,
                input=form.cleaned_data["input"],
                expected=form.cleaned_data["expected"],
                metadata=form.cleaned_data["metadata"],
                split=form.cleaned_data["split"],
            )
            return _after_write(
                request, dataset.pk, f"Added an example: revision {dataset.current_revision}."
            )
    return _example_form_error(request, dataset, form)


@require_GET
def example_row(request, dataset_id, example_id):
    """One row, read-only (what "Cancel" on an inline edit swaps back in)."""
    dataset = selectors.dataset_get(dataset_id)
    row = selectors.example_at_revision(dataset, example_id)
    if request.htmx:
        context = {
            "dataset": dataset,
            "row": row,
            "can_edit": role_allows(request, PERM_EDIT),
            "is_current": True,
        }
        return render(request, "datasets/detail.html#row", context)
    return redirect(team_url(request, "datasets:detail", dataset_id=dataset.pk))


@require_http_methods(["GET", "POST"])
def example_edit(request, dataset_id, example_id):
    dataset = selectors.dataset_get(dataset_id)
    row = selectors.example_at_revision(dataset, example_id)
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "change datasets"))
    if request.method == "GET":
        form = ExampleForm(initial=ExampleForm.initial_for(row))
        return _example_form_error(request, dataset, form, row=row)
    form = ExampleForm(request.POST)
    if form.is_valid():
        with errors_on(form):
            services.example_update(
                team=request.team,
                actor=request.user,
                dataset=dataset,
                example_id=row.example_id,
                input=form.cleaned_data["input"],
                expected=form.cleaned_data["expected"],
                metadata=form.cleaned_data["metadata"],
                split=form.cleaned_data["split"],
            )
            return _after_write(
                request, dataset.pk, f"Saved the example: revision {dataset.current_revision}."
            )
    return _example_form_error(request, dataset, form, row=row)


@require_POST
def example_delete(request, dataset_id, example_id):
    dataset = selectors.dataset_get(dataset_id)
    row = selectors.example_at_revision(dataset, example_id)
    number = services.example_delete(
        team=request.team, actor=request.user, dataset=dataset, example_id=row.example_id
    )
    return _after_write(request, dataset.pk, f"Deleted the example: revision {number}.")
