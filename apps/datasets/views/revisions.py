"""A dataset's history: its revisions, and what one of them changed."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.pagination import paginate
from apps.datasets import selectors


@require_GET
def revisions(request, dataset_id):
    dataset = selectors.dataset_get(dataset_id)
    page = paginate(request, selectors.revision_list(dataset), per_page=50)
    return render(request, "datasets/revisions.html", {"dataset": dataset, "page": page})


@require_GET
def revision_detail(request, dataset_id, revision):
    dataset = selectors.dataset_get(dataset_id)
    rev = selectors.revision_get(dataset, revision)
    diff = selectors.revision_diff(dataset, rev.number)
    return render(
        request,
        "datasets/revision_detail.html",
        {"dataset": dataset, "revision": rev, "diff": diff},
    )
