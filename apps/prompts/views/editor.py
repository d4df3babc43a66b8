"""The prompt editor: a new prompt with its first version, a new version from an old one,
and the live preview while typing. Forms: apps.prompts.forms."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core import jsonshape
from apps.core.errors import ServiceError
from apps.core.web import errors_on, team_url
from apps.llm.chat import EDITOR_ROLES
from apps.llm.selectors import providers_for_team
from apps.prompts import chains, selectors, services
from apps.prompts.content import check_content
from apps.prompts.forms import SERVICE_FIELDS, PromptEditor
from apps.prompts.models import Kind
from apps.prompts.panels import editor_panels
from apps.prompts.rendering import PLACEHOLDER, RenderError, render_prompt
from apps.teams.models import PERM_EDIT
from apps.teams.refusals import require_role_for

SAMPLE_PREFIX = "sample__"


def prompt_create(request):
    require_role_for(request, PERM_EDIT, "create prompts")
    post = request.POST if request.method == "POST" else None
    editor = PromptEditor(post, new_prompt=True)
    # A step button (add, remove, move, show variables) re-draws the editor: no save.
    if post is not None and not editor.step_action and editor.is_valid():
        with errors_on(editor, fields=SERVICE_FIELDS):
            # One transaction: a prompt never exists without its first version.
            with transaction.atomic():
                prompt = services.prompt_create(
                    team=request.team,
                    actor=request.user,
                    name=editor.form.cleaned_data["name"],
                    description=editor.form.cleaned_data["description"],
                )
                services.version_create(
                    team=request.team, actor=request.user, prompt=prompt, **editor.version_fields()
                )
            messages.success(request, f"Prompt {prompt.name} created with v1.")
            return redirect(team_url(request, "prompts:detail", prompt_name=prompt.name))
    editor.show_step_variables(None)
    context = {
        "editor": editor,
        "errors": editor.errors,
        "prompt_names": selectors.prompt_names(),
        "name": editor.value("name"),
        "description": editor.value("description"),
        "action": team_url(request, "prompts:create"),
        **_provider_context(),
        **_sample_context(post, []),
    }
    return render(request, "prompts/create.html", context)


def version_new(request, prompt_name, version_number):
    """The editor: a new version starting from this one."""
    prompt = selectors.prompt_get(prompt_name)
    base = selectors.version_get(prompt, version_number)
    require_role_for(request, PERM_EDIT, "save new versions")
    post = request.POST if request.method == "POST" else None
    editor = PromptEditor(post, base=base)
    if post is not None and not editor.step_action and editor.is_valid():
        with errors_on(editor, fields=SERVICE_FIELDS):
            version = services.version_create(
                team=request.team,
                actor=request.user,
                prompt=prompt,
                parent=base,
                **editor.version_fields(),
            )
            messages.success(request, f"Saved v{version.number} of {prompt.name}.")
            return redirect(
                team_url(
                    request,
                    "prompts:version",
                    prompt_name=prompt.name,
                    version_number=version.number,
                )
            )
    editor.show_step_variables(prompt)
    context = {
        "prompt": prompt,
        "base": base,
        "editor": editor,
        "errors": editor.errors,
        "prompt_names": selectors.prompt_names(exclude=prompt.name),
        "panels": editor_panels(request, prompt=prompt, base=base),
        "action": request.path,
        **_provider_context(),
        **_sample_context(post, base.variables),
    }
    return render(request, "prompts/editor.html", context)


@require_POST
def editor_preview(request):
    """Live feedback while typing: variables, template errors with their line, a preview."""
    editor = PromptEditor(request.POST, check_settings=False)
    editor.is_valid()
    fields = editor.version_fields()
    variables: list[str] = []
    error = None
    output = None
    try:
        if fields["kind"] == Kind.CHAIN:
            # A chain's inputs: what its steps need that no mapping feeds. No preview text:
            # its steps' outputs exist only when it runs (the playground runs it).
            steps = chains.clean_steps(fields["steps"], chain_prompt=None)
            variables = chains.chain_variables(steps, chain_prompt=None)
        else:
            variables = check_content(
                kind=fields["kind"],
                template=fields["template"],
                messages=fields["messages"],
                variables_schema=fields["variables_schema"],
            )
    except ServiceError as exc:
        error = exc.message
    errors = editor.errors
    if not error and errors:
        error = next(iter(errors.values()))[0]
    posted_names = [k[len(SAMPLE_PREFIX) :] for k in request.POST if k.startswith(SAMPLE_PREFIX)]
    samples = {name: request.POST.get(f"{SAMPLE_PREFIX}{name}", "") for name in variables}
    unfilled: list[str] = []
    if error is None and fields["kind"] != Kind.CHAIN:
        histories = {m["name"] for m in fields["messages"] if m.get("role") == PLACEHOLDER}
        values = _sample_values(variables, fields["variables_schema"], samples, histories)
        # Nothing typed yet is not an error: the preview shows where each value goes.
        unfilled = [name for name in variables if name not in values]
        schema = fields["variables_schema"] or {}
        for name in unfilled:
            if (schema.get(name) or {}).get("type") in (None, "string"):
                values[name] = f"[{name}]"
        try:
            output = render_prompt(
                kind=fields["kind"],
                template=fields["template"],
                messages=fields["messages"],
                variables_schema=fields["variables_schema"],
                values=values,
            )
        except RenderError as exc:
            if not unfilled:
                error = exc.message
    context = {
        "variables": variables,
        "samples": samples,
        "error": error,
        "output": output,
        "unfilled": unfilled,
        "is_chat": fields["kind"] == Kind.CHAT,
        # Re-draw the sample inputs only when the variable set changed, so typing in a
        # sample field keeps its focus.
        "redraw_samples": sorted(posted_names) != sorted(variables),
        "sample_rows": list(samples.items()),
    }
    return render(request, "prompts/_editor_fields.html#preview", context)


@require_GET
def editor_message_row(request):
    return render(
        request,
        "prompts/_editor_fields.html#message-row",
        {"m": {"role": "user", "content": ""}, "editor": {"roles": EDITOR_ROLES}},
    )


def _provider_context() -> dict:
    """The team's providers for the editor's picker: nobody should have to know an id."""
    providers = list(providers_for_team())
    models = sorted({m for p in providers for m in (p.models or [])})
    return {
        "providers": providers,
        "provider_ids": [str(p.pk) for p in providers],
        "provider_models": models,
    }


def _sample_context(post, variables) -> dict:
    if post is not None:
        rows = [
            (k[len(SAMPLE_PREFIX) :], v) for k, v in post.items() if k.startswith(SAMPLE_PREFIX)
        ]
    else:
        rows = [(name, "") for name in variables]
    return {"variables": [name for name, _ in rows], "sample_rows": rows}


def _sample_values(variables, schema, samples, histories=frozenset()):
    """Sample inputs are text; typed variables and history placeholders take JSON. An
    empty sample counts as not given, so the preview names what is still missing."""
    schema = schema or {}
    values = {}
    for name in variables:
        raw = samples.get(name, "")
        spec = schema.get(name, {})
        if name in histories:
            values[name] = _loads(raw) if raw.strip() else []
        elif raw == "":
            continue
        elif spec.get("type") not in (None, "string"):
            values[name] = _loads(raw)
        else:
            values[name] = raw
    return values


def _loads(raw):
    try:
        return jsonshape.loads(raw)
    except ValueError:
        return raw
