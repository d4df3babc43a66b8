"""Webhooks: a team's endpoints for prompt events, and the log of signed deliveries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned
from apps.llm.crypto import decrypt_secret, encrypt_secret


class WebhookEvent(models.TextChoices):
    VERSION_CREATED = "version.created", "Version created"
    TAG_MOVED = "tag.moved", "Tag moved"
    PROMOTION_REQUESTED = "promotion.requested", "Promotion requested"
    PROMOTION_APPROVED = "promotion.approved", "Promotion approved"
    PROMOTION_REJECTED = "promotion.rejected", "Promotion rejected"
    ROLLOUT_STEP = "rollout.step", "Rollout started, stepped or completed"
    ROLLOUT_ABORTED = "rollout.aborted", "Rollout aborted"


TEST_EVENT = "webhook.test"


class WebhookEndpoint(TeamOwned):
    """Where a team's events go. The signing secret (Standard Webhooks `whsec_…`) is stored
    encrypted and shown once, when the endpoint is created."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)  # WebhookEvent values
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "is_active"], name="webhook_team_active")]

    def __str__(self):
        return self.url

    def set_secret(self, raw: str) -> None:
        self.secret_encrypted = encrypt_secret(raw)

    @property
    def secret(self) -> str:
        return decrypt_secret(self.secret_encrypted)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(TeamOwned):
    """One event sent to one endpoint: the signed body, every attempt's outcome."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=40)
    # The Standard Webhooks `webhook-id`: the same on every retry, so receivers dedupe.
    msg_id = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "msg_id"], name="webhook_delivery_msg_id")
        ]
        indexes = [
            models.Index(fields=["team", "endpoint", "-created_at"], name="webhook_delivery_log")
        ]

    def __str__(self):
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"
