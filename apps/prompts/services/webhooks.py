"""Webhooks: endpoints a team registers for prompt events, and their signed deliveries.

Deliveries follow the Standard Webhooks spec through the `standardwebhooks` library:
`webhook-id` (the same on every retry, so receivers dedupe), `webhook-timestamp` and
`webhook-signature` (HMAC-SHA256 with the endpoint's `whsec_` secret). Each delivery is
sent by a task (apps.prompts.tasks.webhook_deliver); a failure (connection error, timeout,
non-2xx answer) is retried with backoff through the task queue, up to MAX_ATTEMPTS. The
endpoint URL passes the providers' address rules (apps.llm.urlcheck), and every connection
goes to a checked address (apps.llm.transport), redirects not followed.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from apps.core.errors import ValidationFailed
from apps.llm import transport
from apps.llm.urlcheck import UnsafeBaseURL, check_base_url
from apps.prompts.models import (
    TEST_EVENT,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_ADMIN, Team
from apps.teams.permissions import actor_user, require

MAX_ATTEMPTS = 6
# Seconds before retry n (after attempt n failed): 5 s, 30 s, 2 min, 10 min, 1 h.
BACKOFF = tuple(getattr(settings, "PROMPTYARD_WEBHOOK_BACKOFF", (5, 30, 120, 600, 3600)))
TIMEOUT = 10.0


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _events(events: object) -> list[str]:
    if not isinstance(events, (list, tuple)) or not events:
        raise ValidationFailed("Pick at least one event.", field="events")
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise ValidationFailed(
            f"Unknown event {unknown[0]!r}; events are {', '.join(WebhookEvent.values)}.",
            field="events",
        )
    return sorted(set(events))


@transaction.atomic
def webhook_endpoint_create(
    *, team: Team, actor: Actor, url: str, events: Sequence[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown this once)."""
    require(actor, PERM_ADMIN, team, message="Only owners and admins manage webhooks.")
    try:
        url = check_base_url(url)
    except UnsafeBaseURL as exc:
        raise ValidationFailed(str(exc), field="url") from None
    raw = _secret()
    endpoint = WebhookEndpoint(
        team=team,
        url=url,
        description=(description or "").strip()[:200],
        events=_events(events),
        created_by=actor_user(actor),
    )
    endpoint.set_secret(raw)
    endpoint.full_clean(exclude=["team", "secret_encrypted"])
    endpoint.save()
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.webhook_create",
        target=endpoint,
        after={"url": endpoint.url, "events": endpoint.events},
    )
    return endpoint, raw


@transaction.atomic
def webhook_endpoint_delete(*, team: Team, actor: Actor, endpoint: WebhookEndpoint) -> None:
    require(actor, PERM_ADMIN, team, message="Only owners and admins manage webhooks.")
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.webhook_delete",
        target=endpoint,
        before={"url": endpoint.url, "events": endpoint.events},
    )
    endpoint.delete()


def _envelope(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}


def _enqueue(delivery_ids: list[int]) -> None:
    # reason: the task module imports this one; the queue is reached after the commit.
    from apps.prompts.tasks import webhook_deliver

    for pk in delivery_ids:
        webhook_deliver.enqueue(pk)


@transaction.atomic
def webhook_deliveries_create(
    *, team: Team, event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per active endpoint subscribed to the event, sent after the commit."""
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(is_active=True)
        if event_type in (e.events or []) or event_type == TEST_EVENT
    ]
    deliveries = [
        WebhookDelivery.objects.create(
            team=team,
            endpoint=endpoint,
            event_type=event_type,
            msg_id=f"msg_{uuid.uuid4().hex}",
            payload=_envelope(event_type, data),
        )
        for endpoint in endpoints
    ]
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


@transaction.atomic
def webhook_test_event_create(
    *, team: Team, actor: Actor, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """The "send test event" button: one signed `webhook.test` delivery to this endpoint."""
    require(actor, PERM_ADMIN, team, message="Only owners and admins manage webhooks.")
    delivery = WebhookDelivery.objects.create(
        team=team,
        endpoint=endpoint,
        event_type=TEST_EVENT,
        msg_id=f"msg_{uuid.uuid4().hex}",
        payload=_envelope(TEST_EVENT, {"team": team.slug, "endpoint": endpoint.pk}),
    )
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
    return delivery


def _signed_request(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers of a delivery."""
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    now = timezone.now()
    signature = Webhook(endpoint.secret).sign(delivery.msg_id, now, body)
    headers = {
        "content-type": "application/json",
        "user-agent": "Promptyard-Webhooks/1",
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    # The providers' client: checked addresses only, no redirects, no proxy from the
    # environment.
    with transport.http_client() as client:
        response = client.post(url, content=body, headers=headers, timeout=TIMEOUT)
    status: int = response.status_code
    return status


def webhook_delivery_run(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """One attempt (outside any transaction: the request is slow I/O). Records the outcome
    and returns the delivery; `next_attempt_at` set means a retry is due then."""
    endpoint = delivery.endpoint
    if delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
        return delivery
    code: int | None = None
    error = ""
    try:
        body, headers = _signed_request(endpoint, delivery)
        code = _post(endpoint.url, body, headers)
        if not 200 <= code < 300:
            error = f"answered {code}"
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
        error = f"{type(exc).__name__}: {exc}"[:500]
    delivery.attempts += 1
    delivery.response_code = code
    delivery.last_error = error
    if not error:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS or not endpoint.is_active:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delay = BACKOFF[min(delivery.attempts - 1, len(BACKOFF) - 1)]
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.save(
        update_fields=[
            "attempts",
            "response_code",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return delivery
