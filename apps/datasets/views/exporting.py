"""Downloading a dataset as it was at one revision."""

from __future__ import annotations

from django.http import Http404
from django.views.decorators.http import require_GET

from apps.datasets import exporting, selectors
from apps.datasets.forms import int_or_none


@require_GET
def export(request, dataset_id):
    dataset = selectors.dataset_get(dataset_id)
    revision = int_or_none(request.GET.get("revision"))
    if revision is None:
        revision = dataset.current_revision
    if not 0 <= revision <= dataset.current_revision:
        raise Http404("No such revision.")
    fmt = request.GET.get("format", "csv")
    if fmt not in exporting.EXPORTERS:
        raise Http404("Export as csv or jsonl.")
    return exporting.export_response(team=request.team, dataset=dataset, revision=revision, fmt=fmt)
