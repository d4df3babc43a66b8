"""Dataset pages. Thin: reads through selectors, writes through services; htmx requests get
the part of the page that changed."""

from __future__ import annotations

import math
from contextlib import contextmanager
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from apps.core.errors import NotFound, PermissionRefused, ServiceError
from apps.datasets import importing, selectors, services
from apps.datasets.forms import (
    TARGET_CHOICES,
    DatasetForm,
    ExampleForm,
    UploadForm,
    mapping_from_post,
    mapping_rows,
)
from apps.datasets.models import PendingUpload
from apps.teams.models import PERM_EDIT, ROLE_PERMISSIONS

PER_PAGE = 50


def _can_edit(request) -> bool:
    # From the membership the middleware already loaded: no permission query per page.
    membership = request.membership
    return membership is not None and PERM_EDIT in ROLE_PERMISSIONS.get(membership.role, [])


def _raise_for(exc: ServiceError):
    if isinstance(exc, NotFound):
        raise Http404(exc.message)
    if isinstance(exc, PermissionRefused):
        raise PermissionDenied(exc.message)
    raise exc


@contextmanager
def _errors_on(form):
    """Show a service's refusal on the form (next to its field); 403 and 404 still raise.
    A `return` after the service call inside the block runs only when the call succeeded."""
    try:
        yield
    except PermissionRefused as exc:
        _raise_for(exc)
    except ServiceError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _dataset(dataset_id):
    try:
        return selectors.dataset_get(dataset_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _url(name: str, request, **kwargs) -> str:
    return reverse(f"datasets:{name}", kwargs={"team_slug": request.team.slug, **kwargs})


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# --- list and create -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def datasets_list(request):
    form = DatasetForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            with _errors_on(form):
                dataset = services.dataset_create(
                    team=request.team,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                )
                messages.success(request, f"Created dataset {dataset.name}.")
                return redirect(_url("detail", request, dataset_id=dataset.pk))
    return render(
        request,
        "datasets/list.html",
        {
            "datasets": selectors.dataset_list(),
            "form": form,
            "can_edit": _can_edit(request),
        },
    )


@require_http_methods(["GET", "POST"])
def dataset_settings(request, dataset_id):
    dataset = _dataset(dataset_id)
    form = DatasetForm(
        request.POST or None, initial={"name": dataset.name, "description": dataset.description}
    )
    if request.method == "POST" and form.is_valid():
        with _errors_on(form):
            services.dataset_update(
                team=request.team,
                actor=request.user,
                dataset=dataset,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
            messages.success(request, "Saved.")
            return redirect(_url("detail", request, dataset_id=dataset.pk))
    return render(
        request,
        "datasets/settings.html",
        {"dataset": dataset, "form": form, "can_edit": _can_edit(request)},
    )


@require_POST
def dataset_delete(request, dataset_id):
    dataset = _dataset(dataset_id)
    try:
        services.dataset_delete(team=request.team, actor=request.user, dataset=dataset)
    except PermissionRefused as exc:
        _raise_for(exc)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(_url("settings", request, dataset_id=dataset.pk))
    messages.success(request, f"Deleted dataset {dataset.name}.")
    return redirect(_url("list", request))


# --- the dataset page: table of one revision -------------------------------------------------


class RowsPage:
    """A page of rows with the total taken from the revision row when nothing is filtered."""

    def __init__(self, queryset, *, number, total):
        self.total = total
        self.num_pages = max(1, math.ceil(total / PER_PAGE))
        self.number = min(max(1, number), self.num_pages)
        offset = (self.number - 1) * PER_PAGE
        self.rows = list(queryset[offset : offset + PER_PAGE])
        self.start = offset + 1 if self.rows else 0
        self.end = offset + len(self.rows)

    @property
    def has_previous(self):
        return self.number > 1

    @property
    def has_next(self):
        return self.number < self.num_pages

    @property
    def previous_page_number(self):
        return self.number - 1

    @property
    def next_page_number(self):
        return self.number + 1


REVISION_CHOICES = 50


def _revision_choices(current: int, shown: int) -> list[int]:
    """The newest revisions (older ones are reached from the revisions page), and the shown one."""
    numbers = list(range(current, max(current - REVISION_CHOICES, -1), -1))
    if shown not in numbers:
        numbers.append(shown)
    return numbers


def _table_context(request, dataset_id, params=None) -> dict:
    params = params if params is not None else request.GET
    try:
        revision = selectors.revision_with_dataset(dataset_id, _int_or_none(params.get("revision")))
    except NotFound as exc:
        raise Http404(exc.message) from None
    dataset = revision.dataset
    split = (params.get("split") or "").strip()
    search = (params.get("q") or "").strip()
    rows = selectors.examples_at_revision(dataset, revision.number, split=split, search=search)
    total = rows.count() if (split or search) else revision.row_count
    page = RowsPage(rows, number=_int_or_none(params.get("page")) or 1, total=total)
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
        "can_edit": _can_edit(request) and is_current,
        "example_form": ExampleForm(),
    }


@require_GET
def dataset_detail(request, dataset_id):
    context = _table_context(request, dataset_id)
    name = "datasets/detail.html#table" if request.htmx else "datasets/detail.html"
    return render(request, name, context)


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
    return redirect(_url("detail", request, dataset_id=dataset_id))


def _example_form_error(request, dataset, form, *, row=None, status=200):
    context = {"dataset": dataset, "form": form, "row": row, "can_edit": True}
    if request.htmx:
        template = "datasets/detail.html#row_edit" if row else "datasets/detail.html#add_form"
        return render(request, template, context, status=status)
    return render(request, "datasets/example_edit.html", context, status=status)


@require_POST
def example_add(request, dataset_id):
    dataset = _dataset(dataset_id)
    form = ExampleForm(request.POST)
    if form.is_valid():
        with _errors_on(form):
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


def _current_row(dataset, example_id):
    try:
        return selectors.example_at_revision(dataset, example_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


@require_GET
def example_row(request, dataset_id, example_id):
    """One row, read-only (what "Cancel" on an inline edit swaps back in)."""
    dataset = _dataset(dataset_id)
    row = _current_row(dataset, example_id)
    context = {"dataset": dataset, "row": row, "can_edit": _can_edit(request), "is_current": True}
    if request.htmx:
        return render(request, "datasets/detail.html#row", context)
    return redirect(_url("detail", request, dataset_id=dataset.pk))


@require_http_methods(["GET", "POST"])
def example_edit(request, dataset_id, example_id):
    dataset = _dataset(dataset_id)
    row = _current_row(dataset, example_id)
    if not _can_edit(request):
        raise PermissionDenied("You need the editor role to change datasets.")
    if request.method == "GET":
        form = ExampleForm(initial=ExampleForm.initial_for(row))
        return _example_form_error(request, dataset, form, row=row)
    form = ExampleForm(request.POST)
    if form.is_valid():
        with _errors_on(form):
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
    dataset = _dataset(dataset_id)
    row = _current_row(dataset, example_id)
    try:
        number = services.example_delete(
            team=request.team, actor=request.user, dataset=dataset, example_id=row.example_id
        )
    except ServiceError as exc:
        _raise_for(exc)
    return _after_write(request, dataset.pk, f"Deleted the example: revision {number}.")


# --- revisions -------------------------------------------------------------------------------


@require_GET
def revisions(request, dataset_id):
    dataset = _dataset(dataset_id)
    from apps.core.pagination import paginate

    page = paginate(request, selectors.revision_list(dataset), per_page=50)
    return render(request, "datasets/revisions.html", {"dataset": dataset, "page": page})


@require_GET
def revision_detail(request, dataset_id, revision):
    dataset = _dataset(dataset_id)
    try:
        rev = selectors.revision_get(dataset, revision)
    except NotFound as exc:
        raise Http404(exc.message) from None
    diff = selectors.revision_diff(dataset, rev.number)
    return render(
        request,
        "datasets/revision_detail.html",
        {"dataset": dataset, "revision": rev, "diff": diff},
    )


# --- import: upload → mapping and preview → commit -------------------------------------------


@require_http_methods(["GET", "POST"])
def import_upload(request, dataset_id):
    dataset = _dataset(dataset_id)
    if not _can_edit(request):
        raise PermissionDenied("You need the editor role to import into datasets.")
    if request.method == "POST":
        try:
            importing.check_request_size(request)
        except ServiceError as exc:
            context = {
                "dataset": dataset,
                "form": UploadForm(),
                "upload_error": exc.message,
                "max_bytes": importing.max_bytes(),
            }
            return render(request, "datasets/import.html", context, status=413)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            upload = importing.pending_upload_create(
                team=request.team,
                actor=request.user,
                dataset=dataset,
                uploaded=form.cleaned_data["file"],
                fmt=form.cleaned_data["format"],
            )
        except PermissionRefused as exc:
            _raise_for(exc)
        except ServiceError as exc:
            form.add_error("file", exc.message)
            status = 400
        else:
            return redirect(
                _url("import_map", request, dataset_id=dataset.pk, upload_token=upload.token)
            )
    return render(
        request,
        "datasets/import.html",
        {"dataset": dataset, "form": form, "max_bytes": importing.max_bytes()},
        status=status,
    )


def _pending(dataset, upload_token) -> PendingUpload:
    upload = PendingUpload.objects.filter(dataset=dataset, token=upload_token).first()
    if upload is None:
        raise Http404("That upload is gone: it was imported or discarded. Upload the file again.")
    return upload


def _mapping_context(request, dataset, upload, mapping) -> dict:
    error = None
    rows = []
    try:
        cleaned = importing.clean_mapping(mapping, upload.columns)
        rows = importing.preview(importing.upload_source(upload), upload.format, cleaned)
    except ServiceError as exc:
        error = exc.message
    return {
        "dataset": dataset,
        "upload": upload,
        "mapping_rows": mapping_rows(upload.columns, mapping),
        "target_choices": TARGET_CHOICES,
        "preview_rows": rows,
        "preview_error": error,
    }


@require_http_methods(["GET", "POST"])
def import_map(request, dataset_id, upload_token):
    """The mapping form and a preview of the first rows; POST (htmx) re-previews."""
    dataset = _dataset(dataset_id)
    if not _can_edit(request):
        raise PermissionDenied("You need the editor role to import into datasets.")
    upload = _pending(dataset, upload_token)
    if request.method == "POST":
        mapping = mapping_from_post(request.POST, upload.columns)
    else:
        mapping = importing.default_mapping(upload.columns)
    context = _mapping_context(request, dataset, upload, mapping)
    if request.htmx:
        return render(request, "datasets/import_map.html#preview", context)
    return render(request, "datasets/import_map.html", context)


@require_POST
def import_commit(request, dataset_id, upload_token):
    dataset = _dataset(dataset_id)
    upload = _pending(dataset, upload_token)
    mapping = mapping_from_post(request.POST, upload.columns)
    try:
        revision = importing.pending_upload_commit(
            team=request.team, actor=request.user, upload=upload, mapping=mapping
        )
    except PermissionRefused as exc:
        _raise_for(exc)
    except ServiceError as exc:
        context = _mapping_context(request, dataset, upload, mapping)
        context["commit_error"] = exc.message
        return render(request, "datasets/import_map.html", context, status=400)
    messages.success(
        request,
        f"Imported {revision.added} rows from {upload.filename}: revision {revision.number}.",
    )
    url = _url("detail", request, dataset_id=dataset.pk)
    if request.htmx:
        from django.http import HttpResponse

        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
def import_discard(request, dataset_id, upload_token):
    dataset = _dataset(dataset_id)
    if not _can_edit(request):
        raise PermissionDenied("You need the editor role to import into datasets.")
    importing.pending_upload_discard(_pending(dataset, upload_token))
    messages.info(request, "Discarded the upload; nothing was imported.")
    return redirect(_url("detail", request, dataset_id=dataset.pk))


# --- export ----------------------------------------------------------------------------------


@require_GET
def export(request, dataset_id):
    dataset = _dataset(dataset_id)
    revision = _int_or_none(request.GET.get("revision"))
    if revision is None:
        revision = dataset.current_revision
    if not 0 <= revision <= dataset.current_revision:
        raise Http404("No such revision.")
    fmt = request.GET.get("format", "csv")
    if fmt not in importing.EXPORTERS:
        raise Http404("Export as csv or jsonl.")
    return importing.export_response(team=request.team, dataset=dataset, revision=revision, fmt=fmt)
