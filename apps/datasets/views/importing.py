"""Importing a file into a dataset: upload → mapping and preview → commit (or discard)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ServiceError, ValidationFailed
from apps.core.web import errors_on, render_page, role_allows, team_url
from apps.datasets import importing, parsing, selectors
from apps.datasets.forms import TARGET_CHOICES, UploadForm, mapping_from_post, mapping_rows
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

# Whatever is wrong with an upload (its size, header or format) is shown beside the file.
UPLOAD_ERRORS_ON = {"": "file", "format": "file"}


def _require_edit(request) -> None:
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "import into datasets"))


@require_http_methods(["GET", "POST"])
def import_upload(request, dataset_id):
    dataset = selectors.dataset_get(dataset_id)
    _require_edit(request)
    if request.method == "POST":
        try:
            parsing.check_request_size(request)
        except ServiceError as exc:
            context = {
                "dataset": dataset,
                "form": UploadForm(),
                "upload_error": exc.message,
                "max_bytes": parsing.max_bytes(),
            }
            return render(request, "datasets/import.html", context, status=413)
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        with errors_on(form, fields=UPLOAD_ERRORS_ON):
            upload = importing.pending_upload_create(
                team=request.team,
                actor=request.user,
                dataset=dataset,
                uploaded=form.cleaned_data["file"],
                fmt=form.cleaned_data["format"],
            )
            return redirect(
                team_url(
                    request, "datasets:import_map", dataset_id=dataset.pk, upload_token=upload.token
                )
            )
        status = 400
    return render(
        request,
        "datasets/import.html",
        {"dataset": dataset, "form": form, "max_bytes": parsing.max_bytes()},
        status=status,
    )


def _mapping_context(dataset, upload, mapping) -> dict:
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
    dataset = selectors.dataset_get(dataset_id)
    _require_edit(request)
    upload = selectors.pending_upload_get(dataset, upload_token)
    if request.method == "POST":
        mapping = mapping_from_post(request.POST, upload.columns)
    else:
        mapping = importing.default_mapping(upload.columns)
    context = _mapping_context(dataset, upload, mapping)
    return render_page(request, "datasets/import_map.html", context, partial="preview")


@require_POST
def import_commit(request, dataset_id, upload_token):
    dataset = selectors.dataset_get(dataset_id)
    upload = selectors.pending_upload_get(dataset, upload_token)
    mapping = mapping_from_post(request.POST, upload.columns)
    try:
        revision = importing.pending_upload_commit(
            team=request.team, actor=request.user, upload=upload, mapping=mapping
        )
    except ValidationFailed as exc:
        context = _mapping_context(dataset, upload, mapping)
        context["commit_error"] = exc.message
        return render(request, "datasets/import_map.html", context, status=400)
    messages.success(
        request,
        f"Imported {revision.added} rows from {upload.filename}: revision {revision.number}.",
    )
    url = team_url(request, "datasets:detail", dataset_id=dataset.pk)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
def import_discard(request, dataset_id, upload_token):
    dataset = selectors.dataset_get(dataset_id)
    _require_edit(request)
    importing.pending_upload_discard(selectors.pending_upload_get(dataset, upload_token))
    messages.info(request, "Discarded the upload; nothing was imported.")
    return redirect(team_url(request, "datasets:detail", dataset_id=dataset.pk))
