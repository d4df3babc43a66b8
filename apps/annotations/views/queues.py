"""Queue pages: the list, the queue form, a queue's page (fill, assign, agreement, disputes,
failures into a dataset, its items) and the annotator's inbox."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.annotations import selectors, services
from apps.annotations.agreement import annotator_agreement, evaluator_agreement
from apps.annotations.forms import QueueForm, fields_spec_text, parse_fields_spec
from apps.annotations.instructions import render_instructions
from apps.annotations.models import ItemStatus
from apps.annotations.results import variant_by_label
from apps.core.errors import ServiceError
from apps.core.pagination import paginate
from apps.core.web import errors_on, render_page, role_allows, team_url
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT, PERM_OWN
from apps.teams.refusals import require_role_for

# The form edits the extra fields as text; the service names them `form_fields`.
FORM_FIELD_NAMES = {"form_fields": "fields_spec"}


@require_GET
def annotations_list(request):
    context = {
        "queues": selectors.queues_with_progress(team=request.team, actor=request.user),
        "can_manage": role_allows(request, PERM_EDIT),
        "form": QueueForm(),
        "my_waiting": selectors.my_waiting_count(request.user),
    }
    return render_page(request, "annotations/list.html", context)


def _queue_from_form(request, form, queue=None):
    data = form.cleaned_data
    kwargs = {
        "name": data["name"],
        "instructions": data["instructions"],
        "annotators_per_item": data["annotators_per_item"],
        "hide_auto_scores": data["hide_auto_scores"],
        "fail_needs_reasoning": data["fail_needs_reasoning"],
        "form_fields": parse_fields_spec(data["fields_spec"]),
    }
    if queue is None:
        return services.queue_create(team=request.team, actor=request.user, **kwargs)
    return services.queue_update(team=request.team, actor=request.user, queue=queue, **kwargs)


def _managed_queue(request, queue_id):
    """The queue, for its managers only: anyone else is refused (403) before it is looked up."""
    require_role_for(request, PERM_EDIT, "manage annotation queues")
    return selectors.queue_for(team=request.team, actor=request.user, queue_id=queue_id)


@require_http_methods(["GET", "POST"])
def queue_create(request):
    require_role_for(request, PERM_EDIT, "create annotation queues")
    form = QueueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with errors_on(form, fields=FORM_FIELD_NAMES):
            queue = _queue_from_form(request, form)
            messages.success(request, f"Queue {queue.name} created. Fill it from an experiment.")
            return redirect(team_url(request, "annotations:queue", queue_id=queue.pk))
    return render_page(request, "annotations/queue_form.html", {"form": form, "queue": None})


@require_http_methods(["GET", "POST"])
def queue_edit(request, queue_id):
    queue = _managed_queue(request, queue_id)
    initial = {
        "name": queue.name,
        "instructions": queue.instructions,
        "annotators_per_item": queue.annotators_per_item,
        "hide_auto_scores": queue.hide_auto_scores,
        "fail_needs_reasoning": queue.fail_needs_reasoning,
        "fields_spec": fields_spec_text(queue.form_fields),
    }
    form = QueueForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        with errors_on(form, fields=FORM_FIELD_NAMES):
            _queue_from_form(request, form, queue)
            messages.success(request, "Queue saved.")
            return redirect(team_url(request, "annotations:queue", queue_id=queue.pk))
    return render_page(request, "annotations/queue_form.html", {"form": form, "queue": queue})


def _queue_context(request, queue, **extra) -> dict:
    manage = role_allows(request, PERM_EDIT)
    status = request.GET.get("status", "")
    items = selectors.queue_items(
        team=request.team,
        actor=request.user,
        queue=queue,
        status=status if status in ItemStatus.values else "",
    )
    context = {
        "queue": queue,
        "instructions_html": render_instructions(queue.instructions),
        "progress": selectors.queue_progress(queue=queue, user=request.user),
        "page": paginate(request, items, per_page=50),
        "status": status,
        "query": urlencode({"status": status}) if status else "",
        "statuses": ItemStatus.choices,
        "can_manage": manage,
        "can_annotate": role_allows(request, PERM_ANNOTATE),
        "is_owner": role_allows(request, PERM_OWN),
        "fill_error": "",
        "assign_error": "",
        "dataset_error": "",
    }
    if manage:
        annotator_overall, annotator_pairs = annotator_agreement(queue=queue)
        context.update(
            experiments=selectors.fill_experiments(),
            members=selectors.annotator_members(),
            datasets=selectors.dataset_choices(),
            evaluator_agreement=evaluator_agreement(team=request.team, queue=queue),
            annotator_overall=annotator_overall,
            annotator_pairs=annotator_pairs,
            disputed=selectors.disputed_items(queue),
        )
    context.update(extra)
    return context


@require_GET
def queue_detail(request, queue_id):
    queue = selectors.queue_for(team=request.team, actor=request.user, queue_id=queue_id)
    return render_page(
        request, "annotations/queue.html", _queue_context(request, queue), partial="items"
    )


@require_POST
def queue_fill(request, queue_id):
    queue = _managed_queue(request, queue_id)
    data = request.POST
    try:
        experiment = selectors.experiment_for_field(data.get("experiment"), field="experiment")
        added = services.queue_fill_from_experiment(
            team=request.team,
            actor=request.user,
            queue=queue,
            experiment=experiment,
            mode=data.get("mode", "all"),
            sample_size=data.get("sample_size") or None,
            baseline_variant=variant_by_label(experiment, data.get("baseline_variant")),
            candidate_variant=variant_by_label(experiment, data.get("candidate_variant")),
        )
    except ServiceError as exc:
        context = _queue_context(request, queue, fill_error=exc.message)
        return render_page(request, "annotations/queue.html", context)
    messages.success(request, f"Added {len(added)} item{'s' if len(added) != 1 else ''}.")
    return redirect(team_url(request, "annotations:queue", queue_id=queue.pk))


@require_POST
def queue_assign(request, queue_id):
    queue = _managed_queue(request, queue_id)
    data = request.POST
    try:
        users = selectors.resolve_annotators(
            team=request.team,
            user_ids=data.getlist("users"),
            emails=[e for e in (data.get("emails") or "").replace(",", " ").split() if e],
        )
        rows = services.items_assign(
            team=request.team,
            actor=request.user,
            queue=queue,
            users=users,
            items=selectors.open_items(queue) if data.get("scope") == "open" else None,
            mode=data.get("mode", "each"),
        )
    except ServiceError as exc:
        context = _queue_context(request, queue, assign_error=exc.message)
        return render_page(request, "annotations/queue.html", context)
    names = ", ".join(u.email for u in users)
    messages.success(request, f"Made {len(rows)} assignments to {names}.")
    return redirect(team_url(request, "annotations:queue", queue_id=queue.pk))


@require_POST
def queue_add_failures(request, queue_id):
    queue = _managed_queue(request, queue_id)
    try:
        dataset = selectors.dataset_for_field(request.POST.get("dataset"), field="dataset")
        result = services.queue_add_failures_to_dataset(
            team=request.team, actor=request.user, queue=queue, dataset=dataset
        )
    except ServiceError as exc:
        context = _queue_context(request, queue, dataset_error=exc.message)
        return render_page(request, "annotations/queue.html", context)
    (messages.success if result.added else messages.info)(request, result.summary())
    return redirect(team_url(request, "annotations:queue", queue_id=queue.pk))


@require_http_methods(["GET", "POST"])
def queue_start(request, queue_id):
    """Claim the next item of the queue for the user and open it."""
    queue = selectors.queue_for(team=request.team, actor=request.user, queue_id=queue_id)
    queue_url = team_url(request, "annotations:queue", queue_id=queue.pk)
    try:
        item = services.item_claim_next(team=request.team, actor=request.user, queue=queue)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(queue_url)
    if item is None:
        messages.info(request, "Nothing left for you in this queue. Thank you!")
        return redirect(queue_url)
    return redirect(team_url(request, "annotations:annotate", queue_item_id=item.pk))


@require_GET
def inbox(request):
    waiting, disputed = selectors.inbox(team=request.team, user=request.user)
    return render_page(
        request, "annotations/inbox.html", {"waiting": waiting, "disputed": disputed}
    )
