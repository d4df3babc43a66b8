"""Team pages. Thin: each view reads through selectors, writes through services, and
renders its page, or, for htmx requests, the part of the page that changed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ServiceError
from apps.core.pagination import without_cursor
from apps.core.web import errors_on, refusal_as_message, render_page, role_allows, team_url
from apps.teams import selectors, services
from apps.teams.forms import (
    ApiKeyForm,
    AuditFilterForm,
    InviteForm,
    MemberRoleForm,
    ProtectedTagsForm,
    TeamCreateForm,
    TeamLimitsForm,
    TraceRetentionForm,
)
from apps.teams.models import PERM_ADMIN, PERM_OWN, Role
from apps.teams.navigation import inbox_counts
from apps.teams.throttles import limits_of


def _secret_page(response):
    """A page showing a secret once: answered to the POST itself (never parked in the
    session store, where the raw key would sit until the redirect is followed) and not cached."""
    response["Cache-Control"] = "no-store"
    return response


def _settings_context(request, active: str) -> dict:
    return {
        "active": active,
        "can_manage": role_allows(request, PERM_ADMIN),
        "is_owner": role_allows(request, PERM_OWN),
    }


def _invite_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("team_account:invite_accept", args=[token]))


# --- outside a team ------------------------------------------------------------------


@login_required
def home(request):
    """Go to the team the user last worked in, or to creating a first team."""
    chosen = selectors.home_membership(
        user=request.user, last_slug=request.session.get("last_team_slug")
    )
    if chosen is None:
        return redirect("team_account:create")
    return redirect("teams:home", team_slug=chosen.team.slug)


@login_required
def team_create_view(request):
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with errors_on(form):
            team = services.team_create(actor=request.user, **form.cleaned_data)
            messages.success(
                request, f"Team {team.name} created. You are its owner: invite your teammates."
            )
            return redirect("teams:members", team_slug=team.slug)
    return render(request, "teams/create.html", {"form": form})


@require_http_methods(["GET", "POST"])
def invite_accept_view(request, token: str):
    invite = selectors.invite_for_token(token)
    if invite is None:
        gone = {"error": selectors.INVITE_NOT_VALID}
        return render(request, "teams/invite_accept.html", gone, status=404)
    context: dict[str, Any] = {"invite": invite, "team": invite.team, "token": token}
    if request.user.is_authenticated:
        if selectors.is_member(team=invite.team, user=request.user):
            messages.info(request, f"You are already a member of {invite.team.name}.")
            return redirect("teams:home", team_slug=invite.team.slug)
    if not invite.is_usable:
        context["error"] = "This invite has expired or was already used. Ask for a new link."
        return render(request, "teams/invite_accept.html", context, status=410)
    if request.user.is_authenticated:
        # Said before any button is pressed: the wrong account is told, not let in.
        context["refusal"] = selectors.invite_refusal(invite=invite, user=request.user)
        context["wrong_account"] = context["refusal"] and request.user.email != invite.email
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('accounts:login')}?next={request.path}")
        try:
            membership = services.invite_accept(token=token, user=request.user)
        except ServiceError as exc:
            context["refusal"] = exc.message
            return render(request, "teams/invite_accept.html", context, status=exc.http_status)
        messages.success(
            request,
            f"Welcome to {invite.team.name}. You joined as {membership.get_role_display()}.",
        )
        return redirect("teams:home", team_slug=invite.team.slug)
    return render(request, "teams/invite_accept.html", context)


# --- team home and general settings ---------------------------------------------------


def team_home(request):
    request.session["last_team_slug"] = request.team.slug
    return redirect("prompts:list", team_slug=request.team.slug)


@require_GET
def nav_counts(request):
    """The navigation badges, swapped out of band into base.html's placeholders."""
    return render(request, "teams/_nav_counts.html", {"counts": inbox_counts(request)})


@require_GET
def team_settings(request):
    return _settings_page(request)


def _settings_page(request, *, protected_form=None, retention_form=None, limits_form=None):
    team = request.team
    context = _settings_context(request, "general")
    context["protected_form"] = protected_form or ProtectedTagsForm(
        initial={"protected_tags": ", ".join(team.protected_tags or [])}
    )
    context["retention_form"] = retention_form or TraceRetentionForm(
        initial={"trace_retention_days": team.trace_retention_days}
    )
    context["limits"] = limits_of(team)
    context["limits_form"] = limits_form or TeamLimitsForm(initial=TeamLimitsForm.initial_for(team))
    partial = ""
    if protected_form is not None:
        partial = "protected_tags"
    elif retention_form is not None:
        partial = "retention"
    elif limits_form is not None:
        partial = "limits"
    return render_page(request, "teams/settings.html", context, partial=partial)


@require_POST
def settings_protected_tags(request):
    form = ProtectedTagsForm(request.POST)
    if form.is_valid():
        with errors_on(form):
            request.team = services.team_set_protected_tags(
                team=request.team, actor=request.user, tags=form.tags()
            )
            messages.success(request, "Protected tags saved.")
            if not request.htmx:
                return redirect(team_url(request, "teams:settings"))
            form = ProtectedTagsForm(
                initial={"protected_tags": ", ".join(request.team.protected_tags)}
            )
    return _settings_page(request, protected_form=form)


@require_POST
def settings_retention(request):
    form = TraceRetentionForm(request.POST)
    if form.is_valid():
        with errors_on(form):
            request.team = services.team_set_trace_retention(
                team=request.team,
                actor=request.user,
                days=form.cleaned_data["trace_retention_days"],
            )
            messages.success(request, "Trace retention saved.")
            if not request.htmx:
                return redirect(team_url(request, "teams:settings"))
            form = TraceRetentionForm(
                initial={"trace_retention_days": request.team.trace_retention_days}
            )
    return _settings_page(request, retention_form=form)


@require_POST
def settings_limits(request):
    form = TeamLimitsForm(request.POST)
    if form.is_valid():
        with errors_on(form):
            request.team = services.team_set_limits(
                team=request.team, actor=request.user, limits=form.cleaned_data
            )
            messages.success(request, "Rate limits saved.")
            if not request.htmx:
                return redirect(team_url(request, "teams:settings"))
            form = TeamLimitsForm(initial=TeamLimitsForm.initial_for(request.team))
    return _settings_page(request, limits_form=form)


# --- members --------------------------------------------------------------------------


@require_GET
def members(request):
    return _members_page(request)


def _members_page(request, *, error=None, error_for=None):
    memberships = selectors.members_list(team=request.team, actor=request.user)
    context = _settings_context(request, "members")
    role_choices = Role.choices
    if not context["is_owner"]:
        role_choices = [c for c in Role.choices if c[0] != Role.OWNER]
    context.update(
        memberships=memberships,
        role_choices=role_choices,
        error=error,
        error_for=error_for,
        me=request.membership,
    )
    return render_page(request, "teams/members.html", context, partial="members_table")


def _member_refused(request, membership, exc: ServiceError):
    """htmx: the table with the error on the member's row; otherwise a message and back."""
    if not request.htmx:
        messages.error(request, exc.message)
        return redirect(team_url(request, "teams:members"))
    return _members_page(request, error=exc.message, error_for=membership.pk)


def _members_done(request):
    if request.htmx:
        return _members_page(request)
    return redirect(team_url(request, "teams:members"))


@require_POST
def member_role(request, membership_id: int):
    membership = selectors.membership_get(membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, error="Choose a role.", error_for=membership.pk)
    try:
        services.membership_set_role(
            team=request.team,
            actor=request.user,
            membership=membership,
            role=form.cleaned_data["role"],
        )
    except ServiceError as exc:
        return _member_refused(request, membership, exc)
    role = Role(form.cleaned_data["role"]).label
    messages.success(request, f"{membership.user.email} is now {role}.")
    return _members_done(request)


@require_POST
def member_remove(request, membership_id: int):
    membership = selectors.membership_get(membership_id)
    leaving = membership.user_id == request.user.pk
    try:
        services.membership_remove(team=request.team, actor=request.user, membership=membership)
    except ServiceError as exc:
        return _member_refused(request, membership, exc)
    if leaving:
        messages.success(request, f"You left {request.team.name}.")
        response = redirect("home")
        if request.htmx:
            response["HX-Redirect"] = reverse("home")
        return response
    messages.success(request, f"{membership.user.email} was removed from the team.")
    return _members_done(request)


# --- invites --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invites(request):
    if request.method == "GET":
        return _invites_page(request)
    form = InviteForm(request.POST, can_invite_owner=role_allows(request, PERM_OWN))
    if not form.is_valid():
        return _invites_page(request, form=form)
    with errors_on(form):
        invite, token = services.invite_create(
            team=request.team,
            actor=request.user,
            accept_url_for=lambda t: _invite_url(request, t),
            **form.invite_kwargs(),
        )
        page = _invites_page(request, link=_invite_url(request, token), created=invite)
        return _secret_page(page)
    return _invites_page(request, form=form)


def _invites_page(request, *, form=None, link=None, created=None):
    pending = selectors.invites_pending(team=request.team, actor=request.user)
    recent = selectors.invites_recent(team=request.team, actor=request.user)
    context = _settings_context(request, "invites")
    context.update(
        form=form or InviteForm(can_invite_owner=context["is_owner"]),
        link=link,
        created=created,
        pending=pending,
        recent=recent,
    )
    return render_page(request, "teams/invites.html", context, partial="invites_body")


@require_POST
def invite_revoke(request, invite_id: int):
    invite = selectors.invite_get(invite_id)
    with refusal_as_message(request):
        services.invite_revoke(team=request.team, actor=request.user, invite=invite)
        messages.success(request, "Invite revoked: its link no longer works.")
    if request.htmx:
        return _invites_page(request)
    return redirect(team_url(request, "teams:invites"))


# --- API keys ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def api_keys(request):
    if request.method == "GET":
        return _api_keys_page(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _api_keys_page(request, form=form)
    with errors_on(form):
        _, secret = services.api_key_create(
            team=request.team, actor=request.user, **form.cleaned_data
        )
        return _secret_page(_api_keys_page(request, secret=secret))
    return _api_keys_page(request, form=form)


def _api_keys_page(request, *, form=None, secret=None):
    keys = selectors.api_keys_list(team=request.team, actor=request.user)
    context = _settings_context(request, "api_keys")
    context.update(form=form or ApiKeyForm(), secret=secret, keys=keys)
    return render_page(request, "teams/api_keys.html", context, partial="api_keys_body")


@require_POST
def api_key_revoke(request, key_id: int):
    key = selectors.api_key_get(key_id)
    with refusal_as_message(request):
        services.api_key_revoke(team=request.team, actor=request.user, key=key)
        messages.success(request, f"API key {key.name} revoked. Requests using it now get 401.")
    if request.htmx:
        return _api_keys_page(request)
    return redirect(team_url(request, "teams:api_keys"))


# --- audit trail ----------------------------------------------------------------------------


@require_GET
def audit(request):
    form = AuditFilterForm(request.GET or None)
    filters = selectors.AuditFilters()
    if form.is_valid():
        filters = selectors.AuditFilters(**form.cleaned_data)
    page = selectors.audit_page(
        team=request.team, actor=request.user, filters=filters, params=request.GET
    )
    context = _settings_context(request, "audit")
    context.update(
        form=form,
        filters=filters,
        page=page,
        choices=selectors.audit_filter_choices(team=request.team),
        query=urlencode(without_cursor(request.GET)),
    )
    return render_page(request, "teams/audit.html", context, partial="audit_results")
