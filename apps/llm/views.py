"""Provider pages: team admins list, add, edit, test and remove model providers."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceError
from apps.core.web import errors_on, render_page, team_url
from apps.llm import selectors, services
from apps.llm.defaults import default_label
from apps.llm.forms import ProviderForm, TeamDefaultsForm, format_prices
from apps.teams.models import PERM_ADMIN
from apps.teams.refusals import require_role_for


def _require_admin(request):
    require_role_for(request, PERM_ADMIN, "manage model providers")


def _edit_page(request, provider):
    return redirect(team_url(request, "llm:provider_edit", provider_id=provider.pk))


def _defaults_form(request, data=None):
    team = request.team
    return TeamDefaultsForm(
        data,
        providers=selectors.providers_for_team(),
        initial={"provider": team.default_provider_id, "model": team.default_model},
    )


def provider_list(request, *, defaults_form=None, status=None):
    _require_admin(request)
    return render_page(
        request,
        "llm/providers.html",
        {
            "providers": selectors.providers_for_team(),
            "can_manage": True,
            "active": "providers",
            "defaults_form": defaults_form or _defaults_form(request),
        },
        status=status,
    )


@require_POST
def team_defaults(request):
    """Set the team's default provider and model."""
    _require_admin(request)
    form = _defaults_form(request, request.POST)
    if form.is_valid():
        with errors_on(form):
            request.team = services.team_defaults_set(
                team=request.team,
                actor=request.user,
                provider=form.cleaned_data["provider"],
                model=form.cleaned_data["model"],
            )
            label = default_label(request.team)
            messages.success(
                request,
                f"Default model: {label}." if label else "The team has no default model now.",
            )
            return redirect(team_url(request, "llm:providers"))
    return provider_list(request, defaults_form=form)


def provider_create(request):
    _require_admin(request)
    form = ProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with errors_on(form):
            provider = services.provider_create(
                team=request.team,
                actor=request.user,
                name=data["name"],
                kind=data["kind"],
                base_url=data["base_url"],
                api_key=data["api_key"],
                models=data["models"],
                prices=data["prices"],
                timeout_seconds=data["timeout_seconds"],
                max_retries=data["max_retries"],
            )
            messages.success(request, f"Provider {provider.name} added.")
            return _edit_page(request, provider)
    return render_page(request, "llm/provider_form.html", {"form": form, "provider": None})


def provider_edit(request, provider_id):
    _require_admin(request)
    provider = selectors.provider_get(provider_id)
    initial = {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "models": "\n".join(provider.models or []),
        "prices": format_prices(provider.prices),
        "timeout_seconds": provider.timeout_seconds,
        "max_retries": provider.max_retries,
    }
    form = ProviderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        had_key = provider.has_key
        with errors_on(form):
            provider = services.provider_update(
                team=request.team,
                actor=request.user,
                provider=provider,
                name=data["name"],
                kind=data["kind"],
                base_url=data["base_url"],
                api_key=data["api_key"],
                clear_key=data["clear_key"],
                models=data["models"],
                prices=data["prices"],
                timeout_seconds=data["timeout_seconds"],
                max_retries=data["max_retries"],
            )
            if had_key and not provider.has_key and not data["clear_key"]:
                messages.warning(request, "The URL changed, so the stored key was removed.")
            messages.success(request, f"Provider {provider.name} saved.")
            return _edit_page(request, provider)
    return render_page(request, "llm/provider_form.html", {"form": form, "provider": provider})


@require_POST
def provider_test(request, provider_id):
    """Test the connection; with `refresh=1`, also store the models the server lists."""
    _require_admin(request)
    provider = selectors.provider_get(provider_id)
    result = services.provider_test_connection(
        team=request.team, actor=request.user, provider=provider
    )
    if result["ok"] and request.POST.get("refresh"):
        provider = services.provider_refresh_models(
            team=request.team, actor=request.user, provider=provider
        )
        result["message"] += " Model list updated."
    context = {"provider": provider, "result": result}
    if request.htmx:
        return render(request, "llm/provider_form.html#test-result", context)
    (messages.success if result["ok"] else messages.error)(request, result["message"])
    return _edit_page(request, provider)


@require_POST
def provider_delete(request, provider_id):
    _require_admin(request)
    provider = selectors.provider_get(provider_id)
    try:
        services.provider_delete(team=request.team, actor=request.user, provider=provider)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _edit_page(request, provider)
    messages.success(request, f"Provider {provider.name} removed.")
    return redirect(team_url(request, "llm:providers"))


def _next_or(request, fallback: str) -> str:
    """The page the form came from (same site only), else `fallback`."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_POST
def provider_add_demo(request):
    """One click: the demo-echo test server, and the team's default model if it has none."""
    _require_admin(request)
    back = _next_or(request, team_url(request, "llm:providers"))
    try:
        provider = services.provider_demo_add(team=request.team, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    made_default = request.team.default_provider_id == provider.pk
    messages.success(
        request,
        f"{provider.name} added: a deterministic test server, not an LLM"
        + (", and the team's default model." if made_default else "."),
    )
    return redirect(back)
