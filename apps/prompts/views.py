"""Prompt Hub pages. Thin: every write goes through apps.prompts.services."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.core.errors import ServiceError, ValidationFailed
from apps.core.pagination import paginate
from apps.prompts import gates, selectors, services
from apps.prompts.content import check_content, normalize_model_settings
from apps.prompts.diffing import version_diff
from apps.prompts.models import Kind, PromotionStatus
from apps.prompts.permissions import review_blockers
from apps.prompts.rendering import RenderError, render_prompt
from apps.prompts.validators import LATEST_TAG
from apps.teams.models import PERM_ADMIN, PERM_EDIT, Membership
from apps.teams.permissions import actor_can

CHAT_ROLES = ("system", "user", "assistant", "placeholder")


def _partial(request, template: str, partial: str, context: dict, **kwargs):
    name = f"{template}#{partial}" if request.htmx else template
    return render(request, name, context, **kwargs)


def _can(request, perm) -> bool:
    return actor_can(request.user, perm, request.team)


def _detail_url(request, prompt) -> str:
    return reverse(
        "prompts:detail", kwargs={"team_slug": request.team.slug, "prompt_name": prompt.name}
    )


# --- list and create ---------------------------------------------------------------


@require_GET
def prompts_list(request):
    query = request.GET.get("q", "")
    prompts = selectors.prompt_list(search=query)
    protected = request.team.protected_tags or []
    context = {
        "prompts": prompts,
        "q": query,
        "protected_tags": protected,
        "can_edit": _can(request, PERM_EDIT),
        "review_count": selectors.needs_review(request.user, request.team).count(),
    }
    return _partial(request, "prompts/list.html", "results", context)


def prompt_create(request):
    if not _can(request, PERM_EDIT):
        raise Http404  # viewers do not see the form at all
    data = request.POST if request.method == "POST" else None
    errors: dict = {}
    editor = _editor_initial(None)
    if data is not None:
        editor, errors = _editor_from_post(data)
        if not errors:
            try:
                # One transaction: a prompt never exists without its first version.
                with transaction.atomic():
                    prompt = services.prompt_create(
                        team=request.team,
                        actor=request.user,
                        name=data.get("name", ""),
                        description=data.get("description", ""),
                    )
                    services.version_create(
                        team=request.team, actor=request.user, prompt=prompt, **editor["service"]
                    )
            except ServiceError as exc:
                errors = _service_errors(exc)
            else:
                messages.success(request, f"Prompt {prompt.name} created with v1.")
                return redirect(_detail_url(request, prompt))
    context = {
        "editor": editor,
        "errors": errors,
        "name": (data or {}).get("name", ""),
        "description": (data or {}).get("description", ""),
        "action": reverse("prompts:create", kwargs={"team_slug": request.team.slug}),
        **_provider_context(),
        **_sample_context(request.POST if data is not None else None, []),
    }
    return render(request, "prompts/create.html", context, status=200)


# --- detail, settings, history -----------------------------------------------------


def _prompt(prompt_name):
    return selectors.prompt_get(prompt_name)


@require_GET
def prompt_detail(request, prompt_name):
    prompt = _prompt(prompt_name)
    page = paginate(request, selectors.versions_of(prompt), per_page=30)
    tags = selectors.tags_of(prompt)
    by_version = selectors.tags_by_version(prompt)
    for version in page.object_list:
        version.tag_names = sorted(by_version.get(version.pk, []))
    context = {
        "prompt": prompt,
        "page": page,
        # The compare picker offers every version, not just this page's (numbers, one query).
        "version_numbers": list(
            selectors.versions_of(prompt).select_related(None).values_list("number", flat=True)
        ),
        "tags": tags,
        "protected_tags": request.team.protected_tags or [],
        "open_promotions": selectors.promotions(prompt=prompt, status=PromotionStatus.OPEN),
        "recent_events": selectors.tag_history(prompt)[:5],
        "can_edit": _can(request, PERM_EDIT),
        "can_admin": _can(request, PERM_ADMIN),
    }
    return render(request, "prompts/detail.html", context)


def prompt_settings(request, prompt_name):
    prompt = _prompt(prompt_name)
    if request.method == "POST":
        try:
            services.prompt_update(
                team=request.team,
                actor=request.user,
                prompt=prompt,
                description=request.POST.get("description", ""),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Description saved.")
        return redirect("prompts:settings", team_slug=request.team.slug, prompt_name=prompt.name)
    approvers = list(selectors.approvers_of(prompt))
    members = (
        Membership.objects.select_related("user")
        .exclude(user__in=approvers)
        .order_by("user__email")
    )
    context = {
        "prompt": prompt,
        "approvers": approvers,
        "members": members,
        "can_edit": _can(request, PERM_EDIT),
        "can_admin": _can(request, PERM_ADMIN),
    }
    context.update(gates.settings_page_context(request, prompt))
    return render(request, "prompts/settings.html", context)


@require_POST
def prompt_approvers(request, prompt_name):
    prompt = _prompt(prompt_name)
    user = User.objects.filter(pk=request.POST.get("user") or 0).first()
    try:
        if user is None:
            raise ValidationFailed("Choose a member.", field="user")
        if request.POST.get("action") == "revoke":
            services.approver_revoke(
                team=request.team, actor=request.user, prompt=prompt, user=user
            )
            messages.success(request, f"{user.email} may no longer approve {prompt.name}.")
        else:
            services.approver_grant(team=request.team, actor=request.user, prompt=prompt, user=user)
            messages.success(request, f"{user.email} may now approve promotions of {prompt.name}.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("prompts:settings", team_slug=request.team.slug, prompt_name=prompt.name)


@require_GET
def prompt_history(request, prompt_name):
    prompt = _prompt(prompt_name)
    page = paginate(request, selectors.tag_history(prompt), per_page=50)
    return render(
        request, "prompts/history.html", {"prompt": prompt, "page": page, "tag_name": None}
    )


def tag_detail(request, prompt_name, tag_name):
    prompt = _prompt(prompt_name)
    page = paginate(request, selectors.tag_history(prompt, tag_name), per_page=50)
    current = selectors.version_at_tag(prompt, tag_name)
    if current is None and not page.object_list:
        raise Http404("No such tag.")
    protected = request.team.is_protected_tag(tag_name)
    can_rollback = _can(request, PERM_ADMIN) if protected else _can(request, PERM_EDIT)
    context = {
        "prompt": prompt,
        "page": page,
        "tag_name": tag_name,
        "current": current,
        "protected": protected,
        "is_latest": tag_name == LATEST_TAG,
        "rollback_targets": selectors.rollback_targets(prompt, tag_name)
        if tag_name != LATEST_TAG
        else [],
        "can_rollback": can_rollback,
    }
    return render(request, "prompts/history.html", context)


def _change_tag(request, prompt, tag_name, tag_service, success) -> None:
    """Point the tag at the posted version through `tag_service`; the outcome is a message
    (`success(version)` when it worked)."""
    version = selectors.version_get(prompt, _int(request.POST.get("version")))
    try:
        tag_service(
            team=request.team,
            actor=request.user,
            prompt=prompt,
            tag_name=tag_name,
            version=version,
            reason=request.POST.get("reason", ""),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(version))


@require_POST
def tag_move(request, prompt_name, tag_name):
    prompt = _prompt(prompt_name)
    _change_tag(
        request,
        prompt,
        tag_name,
        services.tag_move,
        lambda version: f"'{tag_name}' now points at v{version.number}.",
    )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = _detail_url(request, prompt)  # never bounce to another site
    return redirect(target)


@require_POST
def tag_move_new(request, prompt_name):
    """The detail page's "Move a tag" form names the tag in the body."""
    return tag_move(request, prompt_name, (request.POST.get("tag_name") or "").strip())


@require_POST
def tag_rollback(request, prompt_name, tag_name):
    prompt = _prompt(prompt_name)
    _change_tag(
        request,
        prompt,
        tag_name,
        services.tag_rollback,
        lambda version: f"Rolled '{tag_name}' back to v{version.number}.",
    )
    return redirect(
        "prompts:tag", team_slug=request.team.slug, prompt_name=prompt.name, tag_name=tag_name
    )


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such version.")


# --- versions ----------------------------------------------------------------------


@require_GET
def version_detail(request, prompt_name, version_number):
    prompt = _prompt(prompt_name)
    version = selectors.version_get(prompt, version_number)
    tag_names = sorted(selectors.tags_by_version(prompt).get(version.pk, []))
    context = {
        "prompt": prompt,
        "version": version,
        "tag_names": tag_names,
        "settings_json": json.dumps(version.model_settings, indent=2, sort_keys=True),
        "schema_json": json.dumps(version.variables_schema, indent=2, sort_keys=True),
        "can_edit": _can(request, PERM_EDIT),
        "protected_tags": [t for t in (request.team.protected_tags or []) if t != LATEST_TAG],
    }
    return render(request, "prompts/version_detail.html", context)


def version_new(request, prompt_name, version_number):
    """The editor: a new version starting from this one."""
    prompt = _prompt(prompt_name)
    base = selectors.version_get(prompt, version_number)
    if not _can(request, PERM_EDIT):
        messages.error(request, "Viewers cannot write versions.")
        return redirect(
            "prompts:version",
            team_slug=request.team.slug,
            prompt_name=prompt.name,
            version_number=base.number,
        )
    errors: dict = {}
    editor = _editor_initial(base)
    if request.method == "POST":
        editor, errors = _editor_from_post(request.POST)
        if not errors:
            try:
                version = services.version_create(
                    team=request.team,
                    actor=request.user,
                    prompt=prompt,
                    parent=base,
                    **editor["service"],
                )
            except ServiceError as exc:
                errors = _service_errors(exc)
            else:
                messages.success(request, f"Saved v{version.number} of {prompt.name}.")
                return redirect(
                    "prompts:version",
                    team_slug=request.team.slug,
                    prompt_name=prompt.name,
                    version_number=version.number,
                )
    context = {
        "prompt": prompt,
        "base": base,
        "editor": editor,
        "errors": errors,
        "action": request.path,
        **_provider_context(),
        **_sample_context(request.POST if request.method == "POST" else None, base.variables),
    }
    return render(request, "prompts/editor.html", context)


@require_POST
def editor_preview(request):
    """Live feedback while typing: variables, template errors with their line, a preview."""
    editor, errors = _editor_from_post(request.POST, preview=True)
    variables: list[str] = []
    error = None
    output = None
    service = editor["service"]
    try:
        variables = check_content(
            kind=service["kind"],
            template=service["template"],
            messages=service["messages"],
            variables_schema=service["variables_schema"],
        )
    except ServiceError as exc:
        error = exc.message
    if not error and errors:
        error = next(iter(errors.values()))[0]
    samples = {}
    posted_names = [k[len("sample__") :] for k in request.POST if k.startswith("sample__")]
    for name in variables:
        samples[name] = request.POST.get(f"sample__{name}", "")
    if error is None:
        try:
            histories = {m["name"] for m in service["messages"] if m.get("role") == "placeholder"}
            values = _sample_values(variables, service["variables_schema"], samples, histories)
            output = render_prompt(
                kind=service["kind"],
                template=service["template"],
                messages=service["messages"],
                variables_schema=service["variables_schema"],
                values=values,
            )
        except RenderError as exc:
            error = exc.message
    context = {
        "variables": variables,
        "samples": samples,
        "error": error,
        "output": output,
        "is_chat": service["kind"] == Kind.CHAT,
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
        {"m": {"role": "user", "content": ""}, "editor": {"roles": CHAT_ROLES}},
    )


def _sample_context(post, variables) -> dict:
    if post is not None:
        rows = [(k[len("sample__") :], v) for k, v in post.items() if k.startswith("sample__")]
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
        return json.loads(raw)
    except ValueError:
        return raw


def _editor_initial(base) -> dict:
    messages_ = list(base.messages) if base is not None and base.kind == Kind.CHAT else []
    settings = dict(base.model_settings) if base is not None else {}
    return {
        "kind": base.kind if base is not None else Kind.TEXT,
        "template": base.template if base is not None else "",
        "messages": messages_ + [{"role": "user", "content": ""}]
        if messages_
        else [
            {"role": "system", "content": ""},
            {"role": "user", "content": ""},
        ],
        "schema_text": json.dumps(base.variables_schema, indent=2)
        if base is not None and base.variables_schema
        else "",
        "settings": _settings_fields(settings),
        "commit_message": "",
        "roles": CHAT_ROLES,
        "service": {},
    }


def _provider_context() -> dict:
    """The team's providers for the editor's picker: nobody should have to know an id."""
    from apps.llm.selectors import providers_for_team

    providers = list(providers_for_team())
    models = sorted({m for p in providers for m in (p.models or [])})
    return {
        "providers": providers,
        "provider_ids": [str(p.pk) for p in providers],
        "provider_models": models,
    }


def _settings_fields(settings: dict) -> dict:
    fmt = settings.get("response_format") or {}
    return {
        "provider_id": settings.get("provider_id", ""),
        "model": settings.get("model", ""),
        "temperature": settings.get("temperature", ""),
        "max_tokens": settings.get("max_tokens", ""),
        "top_p": settings.get("top_p", ""),
        "stop": "\n".join(settings.get("stop", [])),
        "response_format": fmt.get("type", "text"),
        "json_schema": json.dumps(fmt["json_schema"], indent=2) if fmt.get("json_schema") else "",
        "tools": json.dumps(settings["tools"], indent=2) if settings.get("tools") else "",
    }


def _json_field(raw: str, field: str, errors: dict, default):
    raw = (raw or "").strip()
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        errors[field] = [f"Not valid JSON (line {exc.lineno}): {exc.msg}."]
        return default


def _editor_from_post(post, *, preview: bool = False) -> tuple[dict, dict]:
    errors: dict = {}
    kind = post.get("kind", Kind.TEXT)
    roles = post.getlist("role")
    contents = post.getlist("content")
    rows = []
    for role, content in zip(roles, contents, strict=False):
        if role == "placeholder":
            if content.strip():
                rows.append({"role": "placeholder", "name": content.strip()})
        elif content.strip():
            rows.append({"role": role, "content": content})
    schema = _json_field(post.get("variables_schema", ""), "variables_schema", errors, {})
    settings = {
        key: post.get(key, "").strip()
        for key in ("provider_id", "model", "temperature", "max_tokens", "top_p")
    }
    stop = [s for s in post.get("stop", "").splitlines() if s]
    fmt = post.get("response_format", "text")
    json_schema = _json_field(post.get("json_schema", ""), "json_schema", errors, None)
    tools = _json_field(post.get("tools", ""), "tools", errors, None)
    settings.update(
        stop=stop,
        response_format={"type": fmt, "json_schema": json_schema} if fmt == "json_schema" else fmt,
        tools=tools,
    )
    editor = {
        "kind": kind,
        "template": post.get("template", ""),
        "messages": rows + [{"role": "user", "content": ""}],
        "schema_text": post.get("variables_schema", ""),
        "settings": {
            **{
                k: post.get(k, "")
                for k in ("provider_id", "model", "temperature", "max_tokens", "top_p")
            },
            "stop": post.get("stop", ""),
            "response_format": fmt,
            "json_schema": post.get("json_schema", ""),
            "tools": post.get("tools", ""),
        },
        "commit_message": post.get("commit_message", ""),
        "roles": CHAT_ROLES,
        "service": {
            "kind": kind,
            "template": post.get("template", "") if kind == Kind.TEXT else "",
            "messages": rows if kind == Kind.CHAT else [],
            "variables_schema": schema if isinstance(schema, dict) else {},
            "model_settings": settings,
            "commit_message": post.get("commit_message", ""),
        },
    }
    if not preview:
        try:
            editor["service"]["model_settings"] = normalize_model_settings(settings)
        except ServiceError as exc:
            errors.update(_service_errors(exc))
    return editor, errors


# Fields of the editor that show their own errors; any other goes to the top of the form.
EDITOR_ERROR_SLOTS = {
    "name",
    "template",
    "messages",
    "variables_schema",
    "commit_message",
    "model",
    "provider_id",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "response_format",
    "json_schema",
    "tools",
}


def _service_errors(exc: ServiceError) -> dict:
    field = (exc.field or "form").split(".")[-1] if exc.field else "form"
    return {field if field in EDITOR_ERROR_SLOTS else "form": [exc.message]}


# --- diff --------------------------------------------------------------------------


@require_GET
def version_diff_pick(request, prompt_name):
    prompt = _prompt(prompt_name)
    old = selectors.version_get(prompt, _int(request.GET.get("from")))
    new = selectors.version_get(prompt, _int(request.GET.get("to")))
    url = reverse(
        "prompts:diff",
        kwargs={
            "team_slug": request.team.slug,
            "prompt_name": prompt.name,
            "from_number": old.number,
            "to_number": new.number,
        },
    )
    mode = request.GET.get("mode")
    return redirect(f"{url}?mode={mode}" if mode in ("unified", "side") else url)


@require_GET
def version_diff_view(request, prompt_name, from_number, to_number):
    prompt = _prompt(prompt_name)
    old = selectors.version_get(prompt, from_number)
    new = selectors.version_get(prompt, to_number)
    mode = request.GET.get("mode") if request.GET.get("mode") in ("unified", "side") else "side"
    context = {
        "prompt": prompt,
        "diff": version_diff(old, new),
        "mode": mode,
        "versions": list(selectors.versions_of(prompt).values_list("number", flat=True)),
    }
    return _partial(request, "prompts/diff.html", "diff", context)


# --- promotion requests ------------------------------------------------------------


def promotion_create(request, prompt_name, version_number):
    prompt = _prompt(prompt_name)
    candidate = selectors.version_get(prompt, version_number)
    tag_name = request.POST.get("tag_name") or request.GET.get("tag") or "production"
    error = None
    if request.method == "POST":
        try:
            promotion = services.promotion_request_create(
                team=request.team,
                actor=request.user,
                prompt=prompt,
                tag_name=tag_name.strip(),
                candidate=candidate,
                description=request.POST.get("description", ""),
                evidence=_evidence(request.POST.get("evidence", "")),
            )
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(
                request, f"Promotion requested: #{promotion.pk}. A reviewer will look at it."
            )
            return redirect(
                "prompts:promotion", team_slug=request.team.slug, promotion_id=promotion.pk
            )
    current = selectors.version_at_tag(prompt, tag_name)
    context = {
        "prompt": prompt,
        "candidate": candidate,
        "tag_name": tag_name,
        "current": current,
        "diff": version_diff(current, candidate),
        "error": error,
        "description": request.POST.get("description", ""),
        "evidence": request.POST.get("evidence", ""),
        "mode": "unified",
    }
    return render(request, "prompts/promotion_create.html", context)


def _evidence(raw: str) -> list[int]:
    ids = []
    for part in raw.replace(",", " ").split():
        try:
            ids.append(int(part.lstrip("#")))
        except ValueError:
            raise ValidationFailed(
                f"Evidence {part!r} is not an experiment number.", field="evidence"
            )
    return ids


def _evidence_links(request, ids):
    out = []
    for pk in ids:
        try:
            url = reverse(
                "experiments:detail", kwargs={"team_slug": request.team.slug, "experiment_id": pk}
            )
        except Exception:  # the experiments app may not have its pages yet
            url = None
        out.append({"id": pk, "url": url})
    return out


def promotion_detail(request, promotion_id):
    promotion = selectors.promotion_get(promotion_id)
    blockers = review_blockers(request.user, promotion)
    is_requester = promotion.requester_id == request.user.pk
    tag_now = selectors.version_at_tag(promotion.prompt, promotion.tag_name)
    context = {
        "promotion": promotion,
        "prompt": promotion.prompt,
        "diff": version_diff(promotion.current_version, promotion.candidate),
        "mode": request.GET.get("mode")
        if request.GET.get("mode") in ("unified", "side")
        else "side",
        "blockers": blockers,
        "can_review": not blockers,
        "can_cancel": promotion.is_open and (is_requester or _can(request, PERM_ADMIN)),
        "tag_now": tag_now,
        "moved_since": promotion.is_open
        and (tag_now.pk if tag_now else None) != promotion.current_version_id,
        "evidence": _evidence_links(request, promotion.evidence or []),
    }
    context.update(gates.request_page_context(request, promotion))
    return render(request, "prompts/promotion_detail.html", context)


@require_POST
def promotion_decide(request, promotion_id, decision):
    promotion = selectors.promotion_get(promotion_id)
    comment = request.POST.get("comment", "")
    try:
        if decision == "approve":
            services.promotion_approve(
                team=request.team, actor=request.user, promotion=promotion, comment=comment
            )
            messages.success(
                request,
                f"Approved: '{promotion.tag_name}' now points at v{promotion.candidate.number}.",
            )
        elif decision == "reject":
            services.promotion_reject(
                team=request.team, actor=request.user, promotion=promotion, comment=comment
            )
            messages.success(request, "Request rejected.")
        else:
            services.promotion_cancel(team=request.team, actor=request.user, promotion=promotion)
            messages.success(request, "Request cancelled.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("prompts:promotion", team_slug=request.team.slug, promotion_id=promotion.pk)


def promotion_approve(request, promotion_id):
    return promotion_decide(request, promotion_id, "approve")


def promotion_reject(request, promotion_id):
    return promotion_decide(request, promotion_id, "reject")


def promotion_cancel(request, promotion_id):
    return promotion_decide(request, promotion_id, "cancel")


@require_GET
def reviews(request):
    """The reviewer's inbox, and the requests the user made."""
    context = {
        "needs_review": list(selectors.needs_review(request.user, request.team)),
        "mine": selectors.promotions(status=PromotionStatus.OPEN).filter(requester=request.user),
        "recent": selectors.promotions().exclude(status=PromotionStatus.OPEN)[:20],
    }
    return render(request, "prompts/reviews.html", context)
