"""Trace explorer pages (thin: selectors read, services write)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError
from apps.teams.models import PERM_EDIT
from apps.traces import selectors, services


def _datasets():
    try:
        from apps.datasets.models import Dataset
    except ImportError:
        return None
    return list(Dataset.objects.only("id", "name").order_by("name")[:500])


def _queues():
    try:
        from apps.annotations import services as annotation_services
        from apps.annotations.models import AnnotationQueue
    except ImportError:
        return None
    if not hasattr(annotation_services, "queue_add_spans"):
        return None
    return list(AnnotationQueue.objects.only("id", "name").order_by("name")[:500])


def _can_manage_queues(request) -> bool:
    try:
        from apps.annotations.permissions import can_manage
    except ImportError:
        return False
    return can_manage(request.user, request.team)


def prompt_version_url(team, name: str, number) -> str:
    """The Prompt Hub's page of that version ('' when the span names none or a name that
    cannot be a prompt)."""
    if not name or not number:
        return ""
    for route in ("prompts:version", "prompts:version_detail"):
        try:
            return reverse(
                route,
                kwargs={"team_slug": team.slug, "prompt_name": name, "version_number": number},
            )
        except NoReverseMatch:
            continue
    return ""


def traces_list(request):
    page = selectors.traces_page(request.GET)
    filters = {k: request.GET.get(k, "") for k in selectors.FILTER_KEYS}
    active = {k: v for k, v in filters.items() if v}
    next_url = "?" + urlencode({**active, "before": page.next_cursor}) if page.next_cursor else ""
    context = {
        "page": page,
        "filters": filters,
        "is_filtered": bool(active),
        "first_url": "?" + urlencode(active) if active else "?",
        "next_url": next_url,
        "choices": selectors.filter_choices(),
        "statuses": ["ok", "error", "unset"],
        "ranges": list(selectors.RANGES),
    }
    if request.htmx and request.htmx.target == "trace-results":
        return render(request, "traces/list.html#results", context)
    return render(request, "traces/list.html", context)


def functions_list(request):
    groups = selectors.function_groups(request.GET)
    return render(
        request,
        "traces/functions.html",
        {"groups": groups, "range": request.GET.get("range", ""), "ranges": list(selectors.RANGES)},
    )


def _span_context(request, trace, span):
    can_edit = request.user.has_perm(PERM_EDIT, request.team)
    return {
        "datasets": _datasets() if can_edit else None,
        "queues": _queues() if _can_manage_queues(request) else None,
        "trace": trace,
        "span": span,
        "prompt_url": prompt_version_url(request.team, span.prompt_name, span.prompt_version_number)
        if span
        else "",
        "attributes": sorted((span.attributes or {}).items()) if span else [],
        "resource": sorted((span.resource or {}).items()) if span else [],
    }


def trace_detail(request, trace_id):
    trace = selectors.trace_get(trace_id)
    # The tree needs only the light columns; the selected span is read in full on its own.
    spans = list(selectors.trace_spans(trace).only(*selectors.TREE_FIELDS))
    rows = selectors.span_tree(spans)
    selected_id = request.GET.get("span", "")
    selected = next((s for s in spans if s.span_id == selected_id), None) or selectors.root_span(
        spans
    )
    if selected is not None:
        selected = selectors.span_get(trace, selected.span_id)
    context = {
        **_span_context(request, trace, selected),
        "rows": rows,
        "span_url_prefix": reverse(
            "traces:detail", kwargs={"team_slug": request.team.slug, "trace_id": trace.trace_id}
        )
        + "spans/",
        "expand_all": request.GET.get("expand") == "all",
        "trace_prompt_url": prompt_version_url(
            request.team, trace.prompt_name, trace.prompt_version_number
        ),
    }
    return render(request, "traces/detail.html", context)


def span_detail(request, trace_id, span_id):
    trace = selectors.trace_get(trace_id)
    span = selectors.span_get(trace, span_id)
    context = _span_context(request, trace, span)
    if request.htmx:
        return render(request, "traces/detail.html#span-detail", context)
    return redirect(
        reverse("traces:detail", kwargs={"team_slug": request.team.slug, "trace_id": trace_id})
        + f"?span={span.span_id}"
    )


def _back(request, trace, span=None):
    url = reverse(
        "traces:detail", kwargs={"team_slug": request.team.slug, "trace_id": trace.trace_id}
    )
    return redirect(url + (f"?span={span.span_id}" if span else ""))


def _chosen_span(trace, request):
    span_id = request.POST.get("span_id", "")
    return selectors.span_get(trace, span_id) if span_id else None


def _posted_pk(request, name: str) -> int:
    """A posted object id; anything but digits (a tampered form) finds nothing."""
    raw = request.POST.get(name, "")
    return int(raw) if raw.isdigit() else 0


@require_POST
def trace_add_to_dataset(request, trace_id):
    trace = selectors.trace_get(trace_id)  # first: an outsider's trace id is a 404
    span = _chosen_span(trace, request)
    try:
        from apps.datasets.models import Dataset
    except ImportError:
        messages.error(request, "Datasets are not available.")
        return _back(request, trace, span)
    dataset = Dataset.objects.filter(pk=_posted_pk(request, "dataset_id")).first()
    if dataset is None:
        messages.error(request, "Choose a dataset.")
        return _back(request, trace, span)
    try:
        services.trace_add_to_dataset(
            team=request.team, actor=request.user, trace=trace, dataset=dataset, span=span
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Added to dataset {dataset.name} as a new example.")
    return _back(request, trace, span)


@require_POST
def trace_send_to_queue(request, trace_id):
    trace = selectors.trace_get(trace_id)
    span = _chosen_span(trace, request)
    try:
        from apps.annotations.models import AnnotationQueue
        from apps.annotations.services import queue_add_spans
    except ImportError:
        messages.error(request, "Annotation queues are not available.")
        return _back(request, trace, span)
    queue = AnnotationQueue.objects.filter(pk=_posted_pk(request, "queue_id")).first()
    if queue is None:
        messages.error(request, "Choose an annotation queue.")
        return _back(request, trace, span)
    if span is not None:
        chosen = [span]
    else:
        # The trace's model calls; a trace without any sends its root span.
        spans = list(selectors.trace_spans(trace).select_related("trace"))
        chosen = [s for s in spans if s.model][:200] or [selectors.root_span(spans)]
    try:
        items = queue_add_spans(team=request.team, actor=request.user, queue=queue, spans=chosen)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sent {len(items)} span(s) to the queue {queue.name}.")
    return _back(request, trace, span)
