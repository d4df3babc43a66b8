"""Every write to prompts, versions, tags, promotion requests and approvers: keyword-only,
atomic, permission-checked, audited. One module per subject; reads live in selectors,
content checks in apps.prompts.content, review rights in apps.prompts.permissions."""

from apps.prompts.services.approvers import approver_grant, approver_revoke
from apps.prompts.services.promotions import (
    promotion_approve,
    promotion_cancel,
    promotion_reject,
    promotion_request_create,
    promotion_reviewer_assign,
)
from apps.prompts.services.prompts import prompt_create, prompt_update
from apps.prompts.services.rollouts import (
    rollout_abort,
    rollout_abort_by_guardrail,
    rollout_guardrail_set,
    rollout_start,
    rollout_step,
)
from apps.prompts.services.tags import tag_move, tag_rollback
from apps.prompts.services.versions import version_create
from apps.prompts.services.webhooks import (
    webhook_deliveries_create,
    webhook_delivery_run,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_test_event_create,
)

__all__ = [
    "approver_grant",
    "approver_revoke",
    "promotion_approve",
    "promotion_cancel",
    "promotion_reject",
    "promotion_request_create",
    "promotion_reviewer_assign",
    "prompt_create",
    "prompt_update",
    "rollout_abort",
    "rollout_abort_by_guardrail",
    "rollout_guardrail_set",
    "rollout_start",
    "rollout_step",
    "tag_move",
    "tag_rollback",
    "version_create",
    "webhook_deliveries_create",
    "webhook_delivery_run",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_test_event_create",
]
