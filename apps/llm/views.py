"""Provider pages: team admins list, add, edit, test and remove model providers."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound, ServiceError
from apps.llm import selectors, services
from apps.llm.forms import ProviderForm, format_prices
from apps.teams.models import PERM_ADMIN


def _require_admin(request):
    if not request.user.has_perm(PERM_ADMIN, request.team):
        raise PermissionDenied("Only team admins manage model providers.")


def _provider(provider_id):
    try:
        return selectors.provider_get(provider_id)
    except NotFound:
        raise Http404("No such provider.") from None


def provider_list(request):
    _require_admin(request)
    return render(
        request,
        "llm/providers.html",
        {"providers": selectors.providers_for_team(), "can_manage": True, "active": "providers"},
    )


def _apply_error(form, exc: ServiceError):
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


def provider_create(request):
    _require_admin(request)
    form = ProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
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
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, f"Provider {provider.name} added.")
            return redirect(
                "llm:provider_edit", team_slug=request.team.slug, provider_id=provider.pk
            )
    return render(request, "llm/provider_form.html", {"form": form, "provider": None})


def provider_edit(request, provider_id):
    _require_admin(request)
    provider = _provider(provider_id)
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
        try:
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
        except ServiceError as exc:
            _apply_error(form, exc)
        else:
            if had_key and not provider.has_key and not data["clear_key"]:
                messages.warning(request, "The URL changed, so the stored key was removed.")
            messages.success(request, f"Provider {provider.name} saved.")
            return redirect(
                "llm:provider_edit", team_slug=request.team.slug, provider_id=provider.pk
            )
    return render(request, "llm/provider_form.html", {"form": form, "provider": provider})


@require_POST
def provider_test(request, provider_id):
    """Test the connection; with `refresh=1`, also store the models the server lists."""
    _require_admin(request)
    provider = _provider(provider_id)
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
    return redirect("llm:provider_edit", team_slug=request.team.slug, provider_id=provider.pk)


@require_POST
def provider_delete(request, provider_id):
    _require_admin(request)
    provider = _provider(provider_id)
    try:
        services.provider_delete(team=request.team, actor=request.user, provider=provider)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("llm:provider_edit", team_slug=request.team.slug, provider_id=provider.pk)
    messages.success(request, f"Provider {provider.name} removed.")
    return redirect("llm:providers", team_slug=request.team.slug)


@require_POST
def provider_add_demo(request):
    _require_admin(request)
    from apps.llm.demo import ensure_demo_provider

    try:
        provider = ensure_demo_provider(team=request.team, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("llm:providers", team_slug=request.team.slug)
    messages.success(request, f"{provider.name} added: a deterministic test server, not an LLM.")
    return redirect("llm:providers", team_slug=request.team.slug)
