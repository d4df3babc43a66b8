"""Background work of the prompts app: webhook deliveries.

`webhook_deliver(delivery_id)` makes one signed attempt; a failure enqueues the next one
at `next_attempt_at` (the backend's `run_after`: the database worker waits; a backend
that cannot defer runs it at once).
"""

from __future__ import annotations

from django_tasks import task

from apps.core.tenancy import team_scope
from apps.prompts.models import WebhookDelivery
from apps.prompts.services.webhooks import webhook_delivery_run


@task()
def webhook_deliver(delivery_id: int) -> dict:
    # reason: a worker has no team; the delivery names its own, entered below.
    rows = WebhookDelivery.objects.unscoped().select_related("team", "endpoint")
    delivery = rows.filter(pk=delivery_id).first()
    if delivery is None:
        return {"delivery": delivery_id, "status": "gone"}
    with team_scope(delivery.team):
        delivery = webhook_delivery_run(delivery=delivery)
    if delivery.next_attempt_at is not None:
        retry = webhook_deliver
        if retry.get_backend().supports_defer:
            retry = retry.using(run_after=delivery.next_attempt_at)
        retry.enqueue(delivery_id)
    return {"delivery": delivery_id, "status": delivery.status, "attempts": delivery.attempts}
