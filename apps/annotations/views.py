"""Annotation pages. Thin: every write goes through apps.annotations.services."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.annotations import selectors, services
from apps.annotations.forms import QueueForm, fields_spec_text, parse_fields_spec
from apps.annotations.models import Annotation, AnnotationQueue, ItemStatus, QueueItem
from apps.core.errors import NotFound, ServiceError, ValidationFailed
from apps.core.pagination import paginate
from apps.teams.models import PERM_ANNOTATE, PERM_OWN, Membership, Role


def _url(request, name, **kwargs) -> str:
    return reverse(f"annotations:{name}", kwargs={"team_slug": request.team.slug, **kwargs})


def _queue_or_404(request, queue_id) -> AnnotationQueue:
    try:
        return selectors.queue_for(team=request.team, actor=request.user, queue_id=queue_id)
    except NotFound:
        raise Http404 from None


def _item_or_404(request, item_id) -> QueueItem:
    try:
        return services.item_for(team=request.team, actor=request.user, item_id=item_id)
    except NotFound:
        raise Http404 from None


def _can_manage(request) -> bool:
    return services.can_manage(request.user, request.team)


# --- queues ------------------------------------------------------------------------------


@require_GET
def annotations_list(request):
    queues = selectors.queues_with_progress(team=request.team, actor=request.user)
    context = {
        "queues": queues,
        "can_manage": _can_manage(request),
        "form": QueueForm(),
        "my_waiting": selectors.my_open_items(request.user).count(),
    }
    return render(request, "annotations/list.html", context)


def _queue_from_form(request, form, queue=None):
    data = form.cleaned_data
    kwargs = {
        "name": data["name"],
        "instructions": data["instructions"],
        "annotators_per_item": data["annotators_per_item"],
        "hide_auto_scores": data["hide_auto_scores"],
        "form_fields": parse_fields_spec(data["fields_spec"]),
    }
    if queue is None:
        return services.queue_create(team=request.team, actor=request.user, **kwargs)
    return services.queue_update(team=request.team, actor=request.user, queue=queue, **kwargs)


def _add_error(form, exc: ServiceError):
    field = exc.field if exc.field in form.fields else None
    if exc.field == "form_fields":
        field = "fields_spec"
    form.add_error(field, exc.message)


@require_http_methods(["GET", "POST"])
def queue_create(request):
    if not _can_manage(request):
        raise Http404
    form = QueueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            queue = _queue_from_form(request, form)
        except ServiceError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, f"Queue {queue.name} created. Fill it from an experiment.")
            return redirect(_url(request, "queue", queue_id=queue.pk))
    return render(request, "annotations/queue_form.html", {"form": form, "queue": None})


@require_http_methods(["GET", "POST"])
def queue_edit(request, queue_id):
    queue = _queue_or_404(request, queue_id)
    if not _can_manage(request):
        raise Http404
    initial = {
        "name": queue.name,
        "instructions": queue.instructions,
        "annotators_per_item": queue.annotators_per_item,
        "hide_auto_scores": queue.hide_auto_scores,
        "fields_spec": fields_spec_text(queue.form_fields),
    }
    form = QueueForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            _queue_from_form(request, form, queue)
        except ServiceError as exc:
            _add_error(form, exc)
        else:
            messages.success(request, "Queue saved.")
            return redirect(_url(request, "queue", queue_id=queue.pk))
    return render(request, "annotations/queue_form.html", {"form": form, "queue": queue})


def _annotators(team):
    return (
        Membership.objects.exclude(role=Role.VIEWER).select_related("user").order_by("user__email")
    )


def _queue_context(request, queue, **extra) -> dict:
    from apps.datasets.models import Dataset
    from apps.experiments.models import Experiment

    manage = _can_manage(request)
    items = (
        services.visible_items(team=request.team, actor=request.user, queue=queue)
        .select_related("locked_by")
        .prefetch_related("annotations", "assignments__user")
        .order_by("position")
    )
    status = request.GET.get("status", "")
    if status in ItemStatus.values:
        items = items.filter(status=status)
    page = paginate(request, items, per_page=50)
    context = {
        "queue": queue,
        "instructions_html": selectors.render_instructions(queue.instructions),
        "progress": selectors.queue_progress(queue=queue, user=request.user),
        "page": page,
        "status": status,
        "statuses": ItemStatus.choices,
        "can_manage": manage,
        "can_annotate": services.can(request.user, PERM_ANNOTATE, request.team),
        "is_owner": services.can(request.user, PERM_OWN, request.team),
        "fill_error": "",
        "assign_error": "",
        "dataset_error": "",
    }
    if manage:
        annotator_overall, annotator_pairs = selectors.annotator_agreement(queue=queue)
        context.update(
            experiments=Experiment.objects.order_by("-created_at")[:50],
            members=_annotators(request.team),
            datasets=Dataset.objects.order_by("name"),
            evaluator_agreement=selectors.evaluator_agreement(team=request.team, queue=queue),
            annotator_overall=annotator_overall,
            annotator_pairs=annotator_pairs,
            disputed=list(
                QueueItem.objects.filter(queue=queue, status=ItemStatus.DISPUTED)
                .prefetch_related("annotations")
                .order_by("position")[:50]
            ),
        )
    context.update(extra)
    return context


@require_GET
def queue_detail(request, queue_id):
    queue = _queue_or_404(request, queue_id)
    context = _queue_context(request, queue)
    template = "annotations/queue.html#items" if request.htmx else "annotations/queue.html"
    return render(request, template, context)


def _manage_queue(request, queue_id):
    queue = _queue_or_404(request, queue_id)
    if not _can_manage(request):
        raise Http404
    return queue


@require_POST
def queue_fill(request, queue_id):
    from apps.experiments.models import Experiment

    queue = _manage_queue(request, queue_id)
    data = request.POST
    experiment = Experiment.objects.filter(pk=data.get("experiment") or None).first()
    try:
        if experiment is None:
            raise ValidationFailed("Choose an experiment.", field="experiment")
        added = services.queue_fill_from_experiment(
            team=request.team,
            actor=request.user,
            queue=queue,
            experiment=experiment,
            mode=data.get("mode", "all"),
            sample_size=data.get("sample_size") or None,
            baseline_variant=services.variant_by_label(experiment, data.get("baseline_variant")),
            candidate_variant=services.variant_by_label(experiment, data.get("candidate_variant")),
        )
    except ServiceError as exc:
        context = _queue_context(request, queue, fill_error=exc.message)
        return render(request, "annotations/queue.html", context)
    messages.success(request, f"Added {len(added)} item{'s' if len(added) != 1 else ''}.")
    return redirect(_url(request, "queue", queue_id=queue.pk))


@require_POST
def queue_assign(request, queue_id):
    queue = _manage_queue(request, queue_id)
    data = request.POST
    try:
        users = services.resolve_annotators(
            team=request.team,
            user_ids=data.getlist("users"),
            emails=[e for e in (data.get("emails") or "").replace(",", " ").split() if e],
        )
        items = None
        if data.get("scope") == "open":
            items = list(QueueItem.objects.filter(queue=queue, status=ItemStatus.OPEN))
        rows = services.items_assign(
            team=request.team,
            actor=request.user,
            queue=queue,
            users=users,
            items=items,
            mode=data.get("mode", "each"),
        )
    except ServiceError as exc:
        context = _queue_context(request, queue, assign_error=exc.message)
        return render(request, "annotations/queue.html", context)
    names = ", ".join(u.email for u in users)
    messages.success(request, f"Made {len(rows)} assignments to {names}.")
    return redirect(_url(request, "queue", queue_id=queue.pk))


@require_POST
def queue_add_failures(request, queue_id):
    from apps.datasets.models import Dataset

    queue = _manage_queue(request, queue_id)
    dataset = Dataset.objects.filter(pk=request.POST.get("dataset") or None).first()
    try:
        if dataset is None:
            raise ValidationFailed("Choose a dataset.", field="dataset")
        revision = services.queue_add_failures_to_dataset(
            team=request.team, actor=request.user, queue=queue, dataset=dataset
        )
    except ServiceError as exc:
        context = _queue_context(request, queue, dataset_error=exc.message)
        return render(request, "annotations/queue.html", context)
    messages.success(
        request,
        f"Added {revision.added} failed items to {dataset.name} as revision {revision.number}.",
    )
    return redirect(_url(request, "queue", queue_id=queue.pk))


@require_http_methods(["GET", "POST"])
def queue_start(request, queue_id):
    """Claim the next item of the queue for the user and open it."""
    queue = _queue_or_404(request, queue_id)
    try:
        item = services.item_claim_next(team=request.team, actor=request.user, queue=queue)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(_url(request, "queue", queue_id=queue.pk))
    if item is None:
        messages.info(request, "Nothing left for you in this queue. Thank you!")
        return redirect(_url(request, "queue", queue_id=queue.pk))
    return redirect(_url(request, "annotate", queue_item_id=item.pk))


@require_GET
def inbox(request):
    waiting, disputed = selectors.inbox(team=request.team, user=request.user)
    return render(request, "annotations/inbox.html", {"waiting": waiting, "disputed": disputed})


# --- annotating ----------------------------------------------------------------------------


def _panel_context(request, item, *, error=None, form_data=None, done_queue=None) -> dict:
    user = request.user
    queue = item.queue if item is not None else done_queue
    context = {
        "queue": queue,
        "item": item,
        "progress": selectors.queue_progress(queue=queue, user=user),
        "instructions_html": selectors.render_instructions(queue.instructions),
        "error": error,
        "can_manage": _can_manage(request),
    }
    if item is None:
        return context
    mine = Annotation.objects.filter(item=item, author=user).first()
    others = []
    if context["can_manage"]:
        others = list(Annotation.objects.filter(item=item).exclude(author=user).order_by("id"))
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
        first_label=next((f for f in fields if f["kind"] == "label"), None),
        previous_id=previous,
        next_id=following,
        locked_by_other=locked_by_other,
        read_only=(
            locked_by_other
            or (item.status != ItemStatus.OPEN and mine is None)
            or item.decided_at is not None
            or not services.can(user, PERM_ANNOTATE, request.team)
        ),
        input_text=_pretty(snapshot.get("input")),
        expected_text=_pretty(snapshot.get("expected")),
        output_text=_pretty(snapshot.get("output")),
        show_auto_scores=not queue.hide_auto_scores,
        datasets=_datasets() if context["can_manage"] else [],
    )
    return context


def _datasets():
    from apps.datasets.models import Dataset

    return Dataset.objects.order_by("name")


def _pretty(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        only = next(iter(value.values()))
        if isinstance(only, str):
            return only
    return json.dumps(value, indent=2, ensure_ascii=False)


def _render_panel(request, context, *, push_item=None):
    template = "annotations/annotate.html#panel" if request.htmx else "annotations/annotate.html"
    response = render(request, template, context)
    if request.htmx and push_item is not None:
        response["HX-Push-Url"] = _url(request, "annotate", queue_item_id=push_item.pk)
    return response


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
        if request.htmx:
            context = _panel_context(request, None, done_queue=item.queue)
            response = render(request, "annotations/annotate.html#panel", context)
            response["HX-Push-Url"] = _url(request, "queue", queue_id=item.queue_id)
            return response
        messages.success(request, "That was the last item for you in this queue.")
        return redirect(_url(request, "queue", queue_id=item.queue_id))
    if request.htmx:
        return _render_panel(request, _panel_context(request, nxt), push_item=nxt)
    return redirect(_url(request, "annotate", queue_item_id=nxt.pk))


@require_http_methods(["GET", "POST"])
def annotate(request, queue_item_id):
    item = _item_or_404(request, queue_item_id)
    if request.method == "GET":
        if services.can(request.user, PERM_ANNOTATE, request.team):
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
        item.refresh_from_db()
        context = _panel_context(request, item, error=exc.message, form_data=values)
        return _render_panel(request, context)
    return _next_or_done(request, item)


@require_POST
def item_skip(request, queue_item_id):
    item = _item_or_404(request, queue_item_id)
    try:
        services.item_skip(team=request.team, actor=request.user, item=item)
    except ServiceError as exc:
        return _render_panel(request, _panel_context(request, item, error=exc.message))
    return _next_or_done(request, item)


@require_POST
def item_decide(request, queue_item_id):
    item = _item_or_404(request, queue_item_id)
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
    return redirect(_url(request, "queue", queue_id=item.queue_id))


@require_POST
def item_add_to_dataset(request, queue_item_id):
    from apps.datasets.models import Dataset

    item = _item_or_404(request, queue_item_id)
    annotation = (
        Annotation.objects.filter(item=item, passed=False)
        .filter(pk=request.POST.get("annotation") or None)
        .first()
    ) or Annotation.objects.filter(item=item, passed=False).order_by("id").first()
    dataset = Dataset.objects.filter(pk=request.POST.get("dataset") or None).first()
    try:
        if annotation is None:
            raise ValidationFailed("Only failed annotations go to a dataset.")
        if dataset is None:
            raise ValidationFailed("Choose a dataset.", field="dataset")
        example = services.annotation_add_to_dataset(
            team=request.team,
            actor=request.user,
            annotation=annotation,
            dataset=dataset,
            expected=request.POST.get("expected", "").strip() or None,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Added to {dataset.name} (example {example.example_id}).")
    return redirect(_url(request, "annotate", queue_item_id=item.pk))
