"""Tags: the history of their moves, moving an unprotected tag, rolling one back."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError
from apps.core.pagination import paginate
from apps.core.web import role_allows, team_url
from apps.prompts import selectors, services
from apps.prompts.validators import LATEST_TAG
from apps.teams.models import PERM_ADMIN, PERM_EDIT


@require_GET
def prompt_history(request, prompt_name):
    prompt = selectors.prompt_get(prompt_name)
    page = paginate(request, selectors.tag_history(prompt), per_page=50)
    return render(
        request, "prompts/history.html", {"prompt": prompt, "page": page, "tag_name": None}
    )


def tag_detail(request, prompt_name, tag_name):
    prompt = selectors.prompt_get(prompt_name)
    page = paginate(request, selectors.tag_history(prompt, tag_name), per_page=50)
    current = selectors.version_at_tag(prompt, tag_name)
    if current is None and not page.object_list:
        raise Http404("No such tag.")
    protected = request.team.is_protected_tag(tag_name)
    frozen = selectors.tag_is_frozen(prompt, tag_name)
    rollout = next(
        (r for r in selectors.rollouts_active(prompt=prompt) if r.tag_name == tag_name), None
    )
    can_start_rollout = (
        rollout is None
        and current is not None
        and not protected
        and not frozen
        and tag_name != LATEST_TAG
        and role_allows(request, PERM_EDIT)
    )
    context = {
        "frozen": frozen,
        "rollout": rollout,
        "can_start_rollout": can_start_rollout,
        "rollout_candidates": [n for n in selectors.version_numbers(prompt) if n != current.number]
        if can_start_rollout
        else [],
        "prompt": prompt,
        "page": page,
        "tag_name": tag_name,
        "current": current,
        "protected": protected,
        "is_latest": tag_name == LATEST_TAG,
        "rollback_targets": selectors.rollback_targets(prompt, tag_name)
        if tag_name != LATEST_TAG and not frozen
        else [],
        "can_rollback": role_allows(request, PERM_ADMIN if protected else PERM_EDIT),
    }
    return render(request, "prompts/history.html", context)


def _change_tag(request, prompt, tag_name, tag_service, success, **extra) -> None:
    """Point the tag at the posted version through `tag_service`; the outcome is a message
    (`success(version)` when it worked)."""
    version = selectors.version_for_value(prompt, request.POST.get("version"))
    try:
        tag_service(
            team=request.team,
            actor=request.user,
            prompt=prompt,
            tag_name=tag_name,
            version=version,
            reason=request.POST.get("reason", ""),
            **extra,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(version))


@require_POST
def tag_move(request, prompt_name, tag_name):
    prompt = selectors.prompt_get(prompt_name)
    frozen = request.POST.get("immutable") in ("on", "true", "1")
    _change_tag(
        request,
        prompt,
        tag_name,
        services.tag_move,
        lambda version: (
            f"'{tag_name}' now points at v{version.number}"
            + (" for good (frozen)." if frozen else ".")
        ),
        immutable=frozen,
    )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        # never bounce to another site
        target = team_url(request, "prompts:detail", prompt_name=prompt.name)
    return redirect(target)


@require_POST
def tag_move_new(request, prompt_name):
    """The detail page's "Move a tag" form names the tag in the body."""
    return tag_move(request, prompt_name, (request.POST.get("tag_name") or "").strip())


@require_POST
def tag_rollback(request, prompt_name, tag_name):
    prompt = selectors.prompt_get(prompt_name)
    _change_tag(
        request,
        prompt,
        tag_name,
        services.tag_rollback,
        lambda version: f"Rolled '{tag_name}' back to v{version.number}.",
    )
    return redirect(team_url(request, "prompts:tag", prompt_name=prompt.name, tag_name=tag_name))
