"""Webhooks: the team's endpoints for prompt events, each with its delivery log and a
"send test event" button. Owners and admins manage them; the secret is shown once."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from apps.core.errors import PermissionRefused, ServiceError
from apps.core.pagination import paginate
from apps.core.web import refusal_as_message, render_page, role_allows, team_url
from apps.prompts import selectors, services
from apps.prompts.models import WebhookEvent
from apps.teams.models import PERM_ADMIN


def webhooks(request):
    context = {
        "endpoints": selectors.webhook_endpoints(),
        "event_choices": WebhookEvent.choices,
        "can_manage": role_allows(request, PERM_ADMIN),
        "form": {"url": "", "description": "", "events": list(WebhookEvent.values)},
    }
    if request.method == "POST":
        events = request.POST.getlist("events")
        try:
            endpoint, secret = services.webhook_endpoint_create(
                team=request.team,
                actor=request.user,
                url=request.POST.get("url", ""),
                events=events,
                description=request.POST.get("description", ""),
            )
        except PermissionRefused:
            raise  # ServiceErrorMiddleware answers 403
        except ServiceError as exc:
            context["error"] = exc.message
            context["error_field"] = exc.field
            context["form"] = {
                "url": request.POST.get("url", ""),
                "description": request.POST.get("description", ""),
                "events": events,
            }
        else:
            # The secret is shown on the next page, once; it is never shown again.
            request.session["webhook_secret"] = {"id": endpoint.pk, "secret": secret}
            return redirect(team_url(request, "prompts:webhook", endpoint_id=endpoint.pk))
    return render_page(request, "prompts/webhooks.html", context)


def webhook_detail(request, endpoint_id):
    endpoint = selectors.webhook_endpoint_get(endpoint_id)
    shown = request.session.pop("webhook_secret", None)
    context = {
        "endpoint": endpoint,
        "secret": shown["secret"] if shown and shown.get("id") == endpoint.pk else None,
        "page": paginate(request, selectors.webhook_deliveries(endpoint), per_page=50),
        "can_manage": role_allows(request, PERM_ADMIN),
        "event_labels": dict(WebhookEvent.choices),
    }
    return render_page(request, "prompts/webhook_detail.html", context, partial="deliveries")


@require_POST
def webhook_test(request, endpoint_id):
    endpoint = selectors.webhook_endpoint_get(endpoint_id)
    with refusal_as_message(request):
        services.webhook_test_event_create(team=request.team, actor=request.user, endpoint=endpoint)
        messages.success(request, "Test event queued: its delivery shows below.")
    return redirect(team_url(request, "prompts:webhook", endpoint_id=endpoint.pk))


@require_POST
def webhook_delete(request, endpoint_id):
    endpoint = selectors.webhook_endpoint_get(endpoint_id)
    services.webhook_endpoint_delete(team=request.team, actor=request.user, endpoint=endpoint)
    messages.success(request, "Webhook endpoint deleted.")
    return redirect(team_url(request, "prompts:webhooks"))
