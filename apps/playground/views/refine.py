"""The refine assistant's panel (beside the prompt editor and in the playground): ask,
read the answer and its proposed edit as a diff, apply it to the editor or save it as a
version; and the stored conversations."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError
from apps.core.web import render_page, role_allows
from apps.playground import selectors, services
from apps.prompts.diffing import unified
from apps.prompts.rendering import RenderError, template_variables
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import refusal

TARGETS = {
    # Where "Apply" puts a proposal: the editor's template, or the playground's variant A.
    "editor": "#id_template",
    "playground": "#variants [data-variant] [data-field=template]",
}


def _turns(messages) -> list[dict[str, Any]]:
    """Each message, with an assistant proposal's diff against the template it was
    asked about."""
    turns = []
    asked = ""
    for message in messages:
        turn: dict[str, Any] = {"message": message, "diff": None}
        if message.role == "user":
            asked = message.template
        elif message.has_proposal:
            turn["diff"] = unified(asked, message.template, old_name="current", new_name="proposed")
        turns.append(turn)
    return turns


def _context(request, *, conversation=None, version=None, experiment=None, **extra) -> dict:
    target = request.POST.get("target") or request.GET.get("target") or "playground"
    if target not in TARGETS:
        target = "playground"
    if conversation is not None and version is None:
        version = conversation.base_version
    messages = selectors.conversation_messages(conversation) if conversation else []
    return {
        "conversation": conversation,
        "turns": _turns(messages),
        "version": version,
        "target": target,
        "target_selector": TARGETS[target],
        "experiment": experiment,
        "failing": selectors.failing_results(experiment) if experiment is not None else [],
        "can_edit": role_allows(request, PERM_EDIT),
        "role_note": refusal(request, PERM_EDIT, "use the refine assistant"),
        **extra,
    }


def refine_panel(request):
    """The panel: a new conversation about a version (`?version=`), or a stored one
    (`?conversation=`); `?experiment=` offers that run's failing rows."""
    conversation = selectors.conversation_or_none(request.GET.get("conversation"))
    version = selectors.version_named(request.GET.get("version"))
    experiment = selectors.experiment_or_none(request.GET.get("experiment"))
    context = _context(request, conversation=conversation, version=version, experiment=experiment)
    return render_page(request, "playground/refine.html", context, partial="panel")


def _variables(template: str) -> list[str]:
    try:
        return template_variables("text", template, [])
    except RenderError:
        return []


@require_POST
def refine_ask(request):
    if not role_allows(request, PERM_EDIT):
        raise PermissionDenied(refusal(request, PERM_EDIT, "use the refine assistant"))
    conversation = selectors.conversation_or_none(request.POST.get("conversation"))
    version = selectors.version_named(request.POST.get("version"))
    experiment = selectors.experiment_or_none(request.POST.get("experiment"))
    template = request.POST.get("template", "")
    rows = []
    if experiment is not None and request.POST.getlist("rows"):
        rows = selectors.failing_rows(experiment, request.POST.getlist("rows"))
    error = ""
    try:
        conversation = services.refine_message_add(
            team=request.team,
            actor=request.user,
            ask=request.POST.get("ask", ""),
            template=template,
            variables=_variables(template),
            rows=rows,
            conversation=conversation,
            base_version=version,
        )
    except ServiceError as exc:
        error = exc.message
    context = _context(
        request,
        conversation=conversation,
        version=version,
        experiment=experiment,
        error=error,
        ask=request.POST.get("ask", "") if error else "",
    )
    return render_page(request, "playground/refine.html", context, partial="panel")


@require_POST
def refine_save(request, refine_message_id):
    """Save an answer's proposal as a version; the panel again, saying which."""
    message = selectors.refine_message_get(refine_message_id)
    saved = error = None
    try:
        saved = services.refine_version_save(
            team=request.team,
            actor=request.user,
            message=message,
            commit_message=request.POST.get("commit_message", ""),
        )
    except ServiceError as exc:
        if exc.http_status == 403:
            raise
        error = exc.message
    conversation = selectors.conversation_get(message.conversation_id)
    context = _context(request, conversation=conversation, saved=saved, error=error)
    return render_page(request, "playground/refine.html", context, partial="panel")


def refine_conversations(request):
    """The team's stored conversations, newest first, with the version each produced."""
    return render_page(
        request,
        "playground/refine_list.html",
        {"conversations": selectors.conversations_recent()},
    )
