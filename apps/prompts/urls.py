from django.urls import path

from apps.prompts.views import (
    editor,
    environments,
    promotions,
    prompts,
    rollouts,
    tags,
    versions,
    webhooks,
)

app_name = "prompts"
urlpatterns = [
    path("", prompts.prompts_list, name="list"),
    path("new/", editor.prompt_create, name="create"),
    path("environments/", environments.environments, name="environments"),
    path("reviews/", promotions.reviews, name="reviews"),
    path("editor/preview/", editor.editor_preview, name="preview"),
    path("editor/message-row/", editor.editor_message_row, name="message_row"),
    path("requests/<int:promotion_id>/", promotions.promotion_detail, name="promotion"),
    path(
        "requests/<int:promotion_id>/approve/",
        promotions.promotion_approve,
        name="promotion_approve",
    ),
    path(
        "requests/<int:promotion_id>/reject/", promotions.promotion_reject, name="promotion_reject"
    ),
    path(
        "requests/<int:promotion_id>/cancel/", promotions.promotion_cancel, name="promotion_cancel"
    ),
    path("requests/<int:promotion_id>/ask/", promotions.promotion_ask, name="promotion_ask"),
    path("webhooks/", webhooks.webhooks, name="webhooks"),
    path("webhooks/<int:endpoint_id>/", webhooks.webhook_detail, name="webhook"),
    path("webhooks/<int:endpoint_id>/test/", webhooks.webhook_test, name="webhook_test"),
    path("webhooks/<int:endpoint_id>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path("rollouts/<int:rollout_id>/", rollouts.rollout_detail, name="rollout"),
    path("rollouts/<int:rollout_id>/step/", rollouts.rollout_step, name="rollout_step"),
    path("rollouts/<int:rollout_id>/abort/", rollouts.rollout_abort, name="rollout_abort"),
    path(
        "rollouts/<int:rollout_id>/guardrail/",
        rollouts.rollout_guardrail,
        name="rollout_guardrail",
    ),
    path("<slug:prompt_name>/", prompts.prompt_detail, name="detail"),
    path("<slug:prompt_name>/settings/", prompts.prompt_settings, name="settings"),
    path("<slug:prompt_name>/settings/approvers/", prompts.prompt_approvers, name="approvers"),
    path("<slug:prompt_name>/history/", tags.prompt_history, name="history"),
    path("<slug:prompt_name>/move-tag/", tags.tag_move_new, name="tag_move_new"),
    path("<slug:prompt_name>/tags/<str:tag_name>/", tags.tag_detail, name="tag"),
    path("<slug:prompt_name>/tags/<str:tag_name>/move/", tags.tag_move, name="tag_move"),
    path(
        "<slug:prompt_name>/tags/<str:tag_name>/rollout/",
        rollouts.rollout_start,
        name="rollout_start",
    ),
    path(
        "<slug:prompt_name>/tags/<str:tag_name>/rollback/",
        tags.tag_rollback,
        name="tag_rollback",
    ),
    path("<slug:prompt_name>/diff/", versions.version_diff_pick, name="diff_pick"),
    path(
        "<slug:prompt_name>/diff/<int:from_number>/<int:to_number>/",
        versions.version_diff_view,
        name="diff",
    ),
    path("<slug:prompt_name>/v/<int:version_number>/", versions.version_detail, name="version"),
    path("<slug:prompt_name>/v/<int:version_number>/new/", editor.version_new, name="version_new"),
    path(
        "<slug:prompt_name>/v/<int:version_number>/promote/",
        promotions.promotion_create,
        name="promotion_create",
    ),
]
