"""The prompt list, a prompt's page and its settings (description, approvers)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError
from apps.core.pagination import paginate
from apps.core.web import render_page, role_allows, team_url
from apps.prompts import gates, selectors, services
from apps.prompts.models import PromotionStatus
from apps.teams.models import PERM_ADMIN, PERM_EDIT


@require_GET
def prompts_list(request):
    query = request.GET.get("q", "")
    context = {
        "prompts": selectors.prompt_list(search=query),
        "q": query,
        "protected_tags": request.team.protected_tags or [],
        "can_edit": role_allows(request, PERM_EDIT),
        "review_count": selectors.needs_review_count(request),
    }
    return render_page(request, "prompts/list.html", context, partial="results")


@require_GET
def prompt_detail(request, prompt_name):
    prompt = selectors.prompt_get(prompt_name)
    page = paginate(request, selectors.versions_of(prompt), per_page=30)
    by_version = selectors.tags_by_version(prompt)
    for version in page.object_list:
        version.tag_names = sorted(by_version.get(version.pk, []))
    context = {
        "prompt": prompt,
        "page": page,
        # The compare picker offers every version, not just this page's (numbers, one query).
        "version_numbers": selectors.version_numbers(prompt),
        "tags": selectors.tags_of(prompt),
        "rollouts": selectors.rollouts_active(prompt=prompt),
        "protected_tags": request.team.protected_tags or [],
        "open_promotions": selectors.promotions(prompt=prompt, status=PromotionStatus.OPEN),
        "recent_events": selectors.tag_history(prompt)[:5],
        "can_edit": role_allows(request, PERM_EDIT),
        "can_admin": role_allows(request, PERM_ADMIN),
    }
    return render(request, "prompts/detail.html", context)


def prompt_settings(request, prompt_name):
    prompt = selectors.prompt_get(prompt_name)
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
        return redirect(team_url(request, "prompts:settings", prompt_name=prompt.name))
    approvers = list(selectors.approvers_of(prompt))
    context = {
        "prompt": prompt,
        "approvers": approvers,
        "members": selectors.approver_candidates(approvers),
        "can_edit": role_allows(request, PERM_EDIT),
        "can_admin": role_allows(request, PERM_ADMIN),
    }
    context.update(gates.settings_page_context(request, prompt))
    return render(request, "prompts/settings.html", context)


@require_POST
def prompt_approvers(request, prompt_name):
    prompt = selectors.prompt_get(prompt_name)
    try:
        user = selectors.user_for_field(request.POST.get("user"), field="user")
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
    return redirect(team_url(request, "prompts:settings", prompt_name=prompt.name))
