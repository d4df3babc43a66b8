"""Team pages. Thin: each view reads through selectors, writes through services, and
renders its page, or, for htmx requests, the part of the page that changed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import NotFound, PermissionRefused, ServiceError
from apps.core.pagination import paginate
from apps.teams import selectors, services
from apps.teams.forms import (
    ApiKeyForm,
    AuditFilterForm,
    InviteForm,
    MemberRoleForm,
    ProtectedTagsForm,
    TeamCreateForm,
    TraceRetentionForm,
)
from apps.teams.models import PERM_OWN, ApiKey, Invite, Membership, Role
from apps.teams.permissions import actor_can


def _secret_page(response):
    """A page showing a secret once: answered to the POST itself (never parked in the
    session store, where the raw key would sit until the redirect is followed) and not cached."""
    response["Cache-Control"] = "no-store"
    return response


def _page(request, template: str, partial: str, context: dict, *, status: int = 200):
    """The whole page, or just `partial` when htmx asked for it."""
    name = f"{template}#{partial}" if request.htmx and partial else template
    return render(request, name, context, status=status)


def _refused(exc: ServiceError):
    if isinstance(exc, NotFound):
        raise Http404(exc.message)
    raise PermissionDenied(exc.message)


def _report(request, write, success: str) -> None:
    """Run `write`; its refusal (403/404 still raise) or `success` becomes the message."""
    try:
        write()
    except PermissionRefused as exc:
        _refused(exc)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)


def _settings_context(request, active: str) -> dict:
    return {
        "active": active,
        "can_manage": selectors.can_manage_team(request.user, request.team),
        "is_owner": _can_own(request),
    }


def _can_own(request) -> bool:
    return actor_can(request.user, PERM_OWN, request.team)


def _invite_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("team_account:invite_accept", args=[token]))


# --- outside a team ------------------------------------------------------------------


@login_required
def home(request):
    """Go to the team the user last worked in, or to creating a first team."""
    memberships = Membership.objects.unscoped().select_related("team").filter(user=request.user)
    last_slug = request.session.get("last_team_slug")
    chosen = (
        next((m for m in memberships if m.team.slug == last_slug), None)
        or memberships.order_by("team__name").first()
    )
    if chosen is None:
        return redirect("team_account:create")
    return redirect("teams:home", team_slug=chosen.team.slug)


@login_required
def team_create_view(request):
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request, f"Team {team.name} created. You are its owner: invite your teammates."
            )
            return redirect("teams:members", team_slug=team.slug)
    return render(request, "teams/create.html", {"form": form})


@require_http_methods(["GET", "POST"])
def invite_accept_view(request, token: str):
    try:
        invite = services.invite_lookup(token)
    except NotFound as exc:
        return render(request, "teams/invite_accept.html", {"error": exc.message}, status=404)
    context = {"invite": invite, "team": invite.team, "token": token}
    if request.user.is_authenticated:
        already = Membership.objects.unscoped().filter(team=invite.team, user=request.user)
        if already.exists():
            messages.info(request, f"You are already a member of {invite.team.name}.")
            return redirect("teams:home", team_slug=invite.team.slug)
    if not invite.is_usable:
        context["error"] = "This invite has expired or was already used. Ask for a new link."
        return render(request, "teams/invite_accept.html", context, status=410)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('accounts:login')}?next={request.path}")
        try:
            membership = services.invite_accept(token=token, user=request.user)
        except ServiceError as exc:
            context["error"] = exc.message
            return render(request, "teams/invite_accept.html", context, status=409)
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
    from apps.teams.navigation import inbox_counts

    return render(request, "teams/_nav_counts.html", {"counts": inbox_counts(request)})


@require_GET
def team_settings(request):
    return _settings_page(request)


def _settings_page(request, *, protected_form=None, retention_form=None):
    team = request.team
    context = _settings_context(request, "general")
    context["protected_form"] = protected_form or ProtectedTagsForm(
        initial={"protected_tags": ", ".join(team.protected_tags or [])}
    )
    context["retention_form"] = retention_form or TraceRetentionForm(
        initial={"trace_retention_days": team.trace_retention_days}
    )
    partial = ""
    if protected_form is not None:
        partial = "protected_tags"
    elif retention_form is not None:
        partial = "retention"
    return _page(request, "teams/settings.html", partial, context)


@require_POST
def settings_protected_tags(request):
    form = ProtectedTagsForm(request.POST)
    if form.is_valid():
        try:
            request.team = services.team_set_protected_tags(
                team=request.team, actor=request.user, tags=form.tags()
            )
        except PermissionRefused as exc:
            _refused(exc)
        except ServiceError as exc:
            form.add_error("protected_tags", exc.message)
        else:
            messages.success(request, "Protected tags saved.")
            if not request.htmx:
                return redirect("teams:settings", team_slug=request.team.slug)
            form = ProtectedTagsForm(
                initial={"protected_tags": ", ".join(request.team.protected_tags)}
            )
    return _settings_page(request, protected_form=form)


@require_POST
def settings_retention(request):
    form = TraceRetentionForm(request.POST)
    if form.is_valid():
        try:
            request.team = services.team_set_trace_retention(
                team=request.team,
                actor=request.user,
                days=form.cleaned_data["trace_retention_days"],
            )
        except PermissionRefused as exc:
            _refused(exc)
        except ServiceError as exc:
            form.add_error("trace_retention_days", exc.message)
        else:
            messages.success(request, "Trace retention saved.")
            if not request.htmx:
                return redirect("teams:settings", team_slug=request.team.slug)
            form = TraceRetentionForm(
                initial={"trace_retention_days": request.team.trace_retention_days}
            )
    return _settings_page(request, retention_form=form)


# --- members --------------------------------------------------------------------------


@require_GET
def members(request):
    return _members_page(request)


def _members_page(request, *, error=None, error_for=None):
    try:
        memberships = selectors.members_list(team=request.team, actor=request.user)
    except ServiceError as exc:
        _refused(exc)
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
    return _page(request, "teams/members.html", "members_table", context)


def _member_refused(request, membership, exc: ServiceError):
    """htmx: the table with the error on the member's row; otherwise a message and back."""
    if not request.htmx:
        messages.error(request, exc.message)
        return redirect("teams:members", team_slug=request.team.slug)
    return _members_page(request, error=exc.message, error_for=membership.pk)


def _members_done(request):
    if request.htmx:
        return _members_page(request)
    return redirect("teams:members", team_slug=request.team.slug)


@require_POST
def member_role(request, membership_id: int):
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
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
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
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
    form = InviteForm(request.POST, can_invite_owner=_can_own(request))
    if not form.is_valid():
        return _invites_page(request, form=form)
    try:
        _, token = services.invite_create(
            team=request.team,
            actor=request.user,
            role=form.cleaned_data["role"],
            email=form.cleaned_data["email"],
            accept_url_for=lambda t: _invite_url(request, t),
        )
    except PermissionRefused as exc:
        _refused(exc)
    except ServiceError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _invites_page(request, form=form)
    return _secret_page(_invites_page(request, link=_invite_url(request, token)))


def _invites_page(request, *, form=None, link=None):
    try:
        pending = selectors.invites_pending(team=request.team, actor=request.user)
        recent = selectors.invites_recent(team=request.team, actor=request.user)
    except ServiceError as exc:
        _refused(exc)
    context = _settings_context(request, "invites")
    context.update(
        form=form or InviteForm(can_invite_owner=context["is_owner"]),
        link=link,
        pending=pending,
        recent=recent,
    )
    return _page(request, "teams/invites.html", "invites_body", context)


@require_POST
def invite_revoke(request, invite_id: int):
    invite = get_object_or_404(Invite, pk=invite_id)
    _report(
        request,
        lambda: services.invite_revoke(team=request.team, actor=request.user, invite=invite),
        "Invite revoked: its link no longer works.",
    )
    if request.htmx:
        return _invites_page(request)
    return redirect("teams:invites", team_slug=request.team.slug)


# --- API keys ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def api_keys(request):
    if request.method == "GET":
        return _api_keys_page(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _api_keys_page(request, form=form)
    try:
        _, secret = services.api_key_create(
            team=request.team, actor=request.user, **form.cleaned_data
        )
    except PermissionRefused as exc:
        _refused(exc)
    except ServiceError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _api_keys_page(request, form=form)
    return _secret_page(_api_keys_page(request, secret=secret))


def _api_keys_page(request, *, form=None, secret=None):
    try:
        keys = selectors.api_keys_list(team=request.team, actor=request.user)
    except ServiceError as exc:
        _refused(exc)
    context = _settings_context(request, "api_keys")
    context.update(form=form or ApiKeyForm(), secret=secret, keys=keys)
    return _page(request, "teams/api_keys.html", "api_keys_body", context)


@require_POST
def api_key_revoke(request, key_id: int):
    key = get_object_or_404(ApiKey, pk=key_id)
    _report(
        request,
        lambda: services.api_key_revoke(team=request.team, actor=request.user, key=key),
        f"API key {key.name} revoked. Requests using it now get 401.",
    )
    if request.htmx:
        return _api_keys_page(request)
    return redirect("teams:api_keys", team_slug=request.team.slug)


# --- audit trail ----------------------------------------------------------------------------


@require_GET
def audit(request):
    form = AuditFilterForm(request.GET or None)
    filters = selectors.AuditFilters()
    if form.is_valid():
        filters = selectors.AuditFilters(**form.cleaned_data)
    try:
        events = selectors.audit_events(team=request.team, actor=request.user, filters=filters)
    except ServiceError as exc:
        _refused(exc)
    context = _settings_context(request, "audit")
    params = request.GET.copy()
    params.pop("page", None)
    context.update(
        form=form,
        filters=filters,
        page=paginate(request, events, per_page=50),
        choices=selectors.audit_filter_choices(team=request.team),
        query=params.urlencode(),
    )
    return _page(request, "teams/audit.html", "audit_results", context)
