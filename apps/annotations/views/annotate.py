"""The item page an annotator works through: judge, skip, the owner's decision, and a
failed verdict into a dataset. One view serves the page and its `panel` fragment, so a
save swaps in the next item without a reload."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from apps.annotations import selectors, services
from apps.annotations.instructions import render_instructions
from apps.annotations.models import FieldKind, ItemStatus
from apps.annotations.snapshots import snapshot_text
from apps.core.errors import ServiceError
from apps.core.web import render_page, role_allows, team_url
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT

TEMPLATE = "annotations/annotate.html"


def _panel_context(request, item, *, error=None, form_data=None, done_queue=None) -> dict:
    user = request.user
    queue = item.queue if item is not None else done_queue
    context = {
        "queue": queue,
        "item": item,
        "progress": selectors.queue_progress(queue=queue, user=user),
        "instructions_html": render_instructions(queue.instructions),
        "error": error,
        "can_manage": role_allows(request, PERM_EDIT),
    }
    if item is None:
        return context
    mine = selectors.my_annotation(item, user)
    others = selectors.others_annotations(item, user) if context["can_manage"] else []
    previous, following = selectors.neighbours(team=request.team, actor=user, item=item)
    values = {}
    if mine is not None:
        values = {
            "passed": "pass" if mine.passed else "fail",
            "reasoning": mine.reasoning,
            "corrected_expected": mine.corrected_expected,
            **{k: v for k, v in mine.fields.items()},
        }
    if form_data is not None:
        values = form_data
    fields = [{**spec, "value": values.get(spec["name"], "")} for spec in queue.form_fields or []]
    snapshot = item.snapshot or {}
    locked_by_other = item.is_locked_by_other(user) and (
        item.annotation_count >= queue.annotators_per_item - 1
    )
    context.update(
        mine=mine,
        others=others,
        values=values,
        fields=fields,
        first_label=next((f for f in fields if f["kind"] == FieldKind.LABEL), None),
        previous_id=previous,
        next_id=following,
        locked_by_other=locked_by_other,
        read_only=(
            locked_by_other
            or (item.status != ItemStatus.OPEN and mine is None)
            or item.decided_at is not None
            or not role_allows(request, PERM_ANNOTATE)
        ),
        input_text=snapshot_text(snapshot.get("input")),
        expected_text=snapshot_text(snapshot.get("expected")),
        output_text=snapshot_text(snapshot.get("output")),
        show_auto_scores=not queue.hide_auto_scores,
        datasets=selectors.dataset_choices() if context["can_manage"] else [],
    )
    return context


def _render_panel(request, context, *, push_url=None):
    response = render_page(request, TEMPLATE, context, partial="panel")
    if request.htmx and push_url is not None:
        response["HX-Push-Url"] = push_url
    return response


def _item_url(request, item) -> str:
    return team_url(request, "annotations:annotate", queue_item_id=item.pk)


def _form_values(post, queue) -> dict:
    values = {
        "passed": post.get("passed", ""),
        "reasoning": post.get("reasoning", ""),
        "corrected_expected": post.get("corrected_expected", ""),
    }
    for spec in queue.form_fields or []:
        values[spec["name"]] = post.get(f"field_{spec['name']}", "")
    return values


def _next_or_done(request, item):
    nxt = services.item_claim_next(
        team=request.team, actor=request.user, queue=item.queue, after=item
    )
    if nxt is None:
        queue_url = team_url(request, "annotations:queue", queue_id=item.queue_id)
        if request.htmx:
            context = _panel_context(request, None, done_queue=item.queue)
            return _render_panel(request, context, push_url=queue_url)
        messages.success(request, "That was the last item for you in this queue.")
        return redirect(queue_url)
    if request.htmx:
        return _render_panel(
            request, _panel_context(request, nxt), push_url=_item_url(request, nxt)
        )
    return redirect(_item_url(request, nxt))


@require_http_methods(["GET", "POST"])
def annotate(request, queue_item_id):
    item = selectors.item_for(team=request.team, actor=request.user, item_id=queue_item_id)
    if request.method == "GET":
        if role_allows(request, PERM_ANNOTATE):
            item = services.item_claim(team=request.team, actor=request.user, item=item)
        return _render_panel(request, _panel_context(request, item))
    values = _form_values(request.POST, item.queue)
    try:
        services.annotation_save(
            team=request.team,
            actor=request.user,
            item=item,
            passed=values["passed"],
            reasoning=values["reasoning"],
            fields={
                spec["name"]: values[spec["name"]]
                for spec in item.queue.form_fields or []
                if values[spec["name"]] != ""
            },
            corrected_expected=values["corrected_expected"],
        )
    except ServiceError as exc:
        # Show the item as it is now: someone else may have judged or locked it meanwhile.
        item = selectors.item_for(team=request.team, actor=request.user, item_id=item.pk)
        context = _panel_context(request, item, error=exc.message, form_data=values)
        return _render_panel(request, context)
    return _next_or_done(request, item)


@require_POST
def item_skip(request, queue_item_id):
    item = selectors.item_for(team=request.team, actor=request.user, item_id=queue_item_id)
    try:
        services.item_skip(team=request.team, actor=request.user, item=item)
    except ServiceError as exc:
        return _render_panel(request, _panel_context(request, item, error=exc.message))
    return _next_or_done(request, item)


@require_POST
def item_decide(request, queue_item_id):
    item = selectors.item_for(team=request.team, actor=request.user, item_id=queue_item_id)
    try:
        services.item_decide(
            team=request.team,
            actor=request.user,
            item=item,
            passed=request.POST.get("passed", ""),
            reasoning=request.POST.get("reasoning", ""),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Decided item #{item.position}.")
    return redirect(team_url(request, "annotations:queue", queue_id=item.queue_id))


@require_POST
def item_add_to_dataset(request, queue_item_id):
    item = selectors.item_for(team=request.team, actor=request.user, item_id=queue_item_id)
    try:
        annotation = selectors.failed_annotation_for_field(
            item, request.POST.get("annotation"), field="annotation"
        )
        dataset = selectors.dataset_for_field(request.POST.get("dataset"), field="dataset")
        result = services.annotation_add_to_dataset(
            team=request.team,
            actor=request.user,
            annotation=annotation,
            dataset=dataset,
            expected=request.POST.get("expected", "").strip() or None,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if result.skipped:
            messages.info(
                request,
                f"{dataset.name} has this example already (example {result.example_ids[0]}): "
                "not added again.",
            )
        else:
            messages.success(request, f"Added to {dataset.name} (example {result.example_ids[0]}).")
    return redirect(_item_url(request, item))
