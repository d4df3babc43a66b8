"""Trace explorer pages (thin: selectors read, services write)."""

from __future__ import annotations

import csv
import itertools
from urllib.parse import urlencode

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from apps.core.errors import PermissionRefused, ServiceError, ValidationFailed
from apps.core.tenancy import team_scope
from apps.core.web import render_page, role_allows, team_url
from apps.datasets import selectors as dataset_selectors
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT
from apps.traces import hooks, selectors, services
from apps.traces.scores import selectors as score_selectors
from apps.traces.scores import services as score_services


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


def _list_params(request):
    """The explorer's filters; a score filter that cannot be read is said and dropped."""
    params = request.GET.copy()
    try:
        score_selectors.score_filter_parse(params.get("score"))
    except ServiceError as exc:
        messages.error(request, exc.message)
        params.pop("score", None)
    return params


def traces_list(request):
    params = _list_params(request)
    page = selectors.traces_page(params)
    score_selectors.scores_attach(page.rows)
    filters = {k: params.get(k, "") for k in selectors.FILTER_KEYS}
    active = {k: v for k, v in filters.items() if v}
    next_url = "?" + urlencode({**active, "after": page.next_cursor}) if page.next_cursor else ""
    context = {
        "page": page,
        "filters": filters,
        "is_filtered": bool(active),
        "query": urlencode(active),
        "next_url": next_url,
        "choices": {**selectors.filter_choices(), "scores": score_selectors.score_names()},
        "statuses": ["ok", "error", "unset"],
        "ranges": list(selectors.RANGES),
        "review_states": score_selectors.REVIEW_STATES,
    }
    if request.htmx and request.htmx.target == "trace-results":
        return render(request, "traces/list.html#results", context)
    return render(request, "traces/list.html", context)


def scores_export(request):
    """The scores of the traces the explorer's filters select, as CSV (streamed)."""
    params = _list_params(request)
    team = request.team
    writer = csv.writer(_Echo())

    def stream():
        # The body is produced after the view returns, outside the middleware's scope.
        with team_scope(team):
            rows = score_selectors.score_export_rows(
                selectors.traces_filtered(params), limit=score_selectors.EXPORT_MAX
            )
            for line in itertools.chain([score_selectors.EXPORT_COLUMNS], rows):
                yield writer.writerow(line)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="trace-scores.csv"'
    return response


class _Echo:
    def write(self, value):
        return value


def session_detail(request, session_id):
    """A session's traces in order, as the conversation they were."""
    page = selectors.session_page(session_id, request.GET)
    score_selectors.scores_attach(page.rows)
    context = {
        "session_id": session_id,
        "page": page,
        "query": "",
        "users": sorted({t.user_id for t in page.rows if t.user_id}),
    }
    return render_page(request, "traces/session.html", context, partial="turns")


def functions_list(request):
    groups = selectors.function_groups(request.GET)
    return render(
        request,
        "traces/functions.html",
        {"groups": groups, "range": request.GET.get("range", ""), "ranges": list(selectors.RANGES)},
    )


def _span_context(request, trace, span):
    return {
        "can_annotate": role_allows(request, PERM_ANNOTATE),
        "datasets": dataset_selectors.dataset_choices()
        if role_allows(request, PERM_EDIT)
        else None,
        "queues": selectors.queue_choices(
            hooks.span_queues(), team=request.team, actor=request.user
        ),
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
    spans = selectors.tree_spans(trace)
    rows = selectors.span_tree(spans)
    selected_id = request.GET.get("span", "")
    selected = next((s for s in spans if s.span_id == selected_id), None) or selectors.root_span(
        spans
    )
    if selected is not None:
        selected = selectors.span_get(trace, selected.span_id)
    context = {
        **_span_context(request, trace, selected),
        "scores": score_selectors.trace_scores(trace),
        "rows": rows,
        "span_url_prefix": team_url(request, "traces:detail", trace_id=trace.trace_id) + "spans/",
        "expand_all": request.GET.get("expand") == "all",
        "trace_prompt_url": prompt_version_url(
            request.team, trace.prompt_name, trace.prompt_version_number
        ),
    }
    return render(request, "traces/detail.html", context)


def span_detail(request, trace_id, span_id):
    trace = selectors.trace_get(trace_id)
    span = selectors.span_get(trace, span_id)
    if request.htmx:
        return render(
            request, "traces/detail.html#span-detail", _span_context(request, trace, span)
        )
    return redirect(team_url(request, "traces:detail", trace_id=trace_id) + f"?span={span.span_id}")


def _back(request, trace, span=None):
    url = team_url(request, "traces:detail", trace_id=trace.trace_id)
    return redirect(url + (f"?span={span.span_id}" if span else ""))


def _chosen_span(trace, request):
    span_id = request.POST.get("span_id", "")
    return selectors.span_get(trace, span_id) if span_id else None


@require_POST
def trace_add_to_dataset(request, trace_id):
    trace = selectors.trace_get(trace_id)  # first: an outsider's trace id is a 404
    span = _chosen_span(trace, request)
    try:
        dataset = dataset_selectors.dataset_for_field(
            request.POST.get("dataset_id"), field="dataset_id"
        )
        result = services.trace_add_to_dataset(
            team=request.team, actor=request.user, trace=trace, dataset=dataset, span=span
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if result.skipped:
            messages.info(
                request, f"{dataset.name} has this input and output already: not added again."
            )
        else:
            messages.success(request, f"Added to dataset {dataset.name} as a new example.")
    return _back(request, trace, span)


@require_POST
def trace_send_to_queue(request, trace_id):
    trace = selectors.trace_get(trace_id)
    span = _chosen_span(trace, request)
    sender = hooks.span_queues()
    try:
        queue = selectors.queue_for_field(
            sender, request.POST.get("queue_id"), team=request.team, actor=request.user
        )
        items = sender.send(
            team=request.team,
            actor=request.user,
            queue=queue,
            spans=selectors.spans_to_annotate(trace, span),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sent {len(items)} span(s) to the queue {queue.name}.")
    return _back(request, trace, span)


def _queue_field_values(post, queue) -> dict:
    """The chosen queue's extra verdict fields, as the form names them (q<queue>_<field>:
    every queue's fields are on the page, only the chosen one's are read)."""
    values = {}
    for spec in getattr(queue, "form_fields", None) or []:
        value = post.get(f"q{queue.pk}_{spec['name']}", "")
        if value != "":
            values[spec["name"]] = value
    return values


@require_POST
def trace_verdict(request, trace_id):
    """A pass/fail verdict with reasoning on the trace or the chosen span, from its page:
    a verdict of its own, or, when a queue is chosen, one in that queue under its rules
    (the span, or the trace's root span, becomes the queue's item)."""
    trace = selectors.trace_get(trace_id)
    span = _chosen_span(trace, request)
    sender = hooks.span_queues()
    context = {
        "trace": trace,
        "can_annotate": True,
        "queues": selectors.queue_choices(sender, team=request.team, actor=request.user),
    }
    try:
        if request.POST.get("queue_id"):
            queue = selectors.queue_for_field(
                sender, request.POST.get("queue_id"), team=request.team, actor=request.user
            )
            if sender.verdict is None:
                raise ValidationFailed("Queues cannot take verdicts here.", field="queue_id")
            sender.verdict(
                team=request.team,
                actor=request.user,
                queue=queue,
                span=span or selectors.root_span(list(selectors.trace_spans(trace))),
                passed=request.POST.get("passed"),
                reasoning=request.POST.get("reasoning", ""),
                fields=_queue_field_values(request.POST, queue),
            )
        else:
            score_services.verdict_save(
                team=request.team,
                actor=request.user,
                trace=trace,
                span_hex=span.span_id if span else "",
                passed=request.POST.get("passed"),
                reasoning=request.POST.get("reasoning", ""),
            )
    except PermissionRefused:
        raise  # a 403, from ServiceErrorMiddleware
    except ServiceError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return _back(request, trace, span)
        context["verdict_error"] = exc.message
    else:
        if not request.htmx:
            messages.success(request, "Verdict saved.")
            return _back(request, trace, span)
        context["verdict_saved"] = True
    context["scores"] = score_selectors.trace_scores(trace)
    return render(request, "traces/scores/_section.html", context)
