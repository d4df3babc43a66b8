"""Prompts, their immutable versions, tags, the tag history, promotion requests, the
evidence policies of protected tags and fetch telemetry: one module per subject."""

from apps.prompts.models.promotions import GateRule, PromotionRequest, PromotionStatus, TagPolicy
from apps.prompts.models.prompts import (
    PERM_APPROVE_PROMOTION,
    Prompt,
    PromptGroupObjectPermission,
    PromptUserObjectPermission,
    prompt_name_validator,
    tag_name_validator,
)
from apps.prompts.models.rollouts import Rollout, RolloutStatus
from apps.prompts.models.tags import Tag, TagEvent
from apps.prompts.models.telemetry import FetchStat
from apps.prompts.models.versions import (
    ImmutableQuerySet,
    ImmutableRowError,
    Kind,
    PromptVersion,
    PromptVersionManager,
)
from apps.prompts.models.webhooks import (
    TEST_EVENT,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "TEST_EVENT",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "PERM_APPROVE_PROMOTION",
    "FetchStat",
    "ImmutableQuerySet",
    "ImmutableRowError",
    "Kind",
    "PromotionRequest",
    "PromotionStatus",
    "Prompt",
    "PromptGroupObjectPermission",
    "PromptUserObjectPermission",
    "PromptVersion",
    "PromptVersionManager",
    "Rollout",
    "RolloutStatus",
    "Tag",
    "TagEvent",
    "TagPolicy",
    "GateRule",
    "prompt_name_validator",
    "tag_name_validator",
]
