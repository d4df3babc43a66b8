from django.urls import path  # noqa: F401

from apps.prompts.api import promotions, rollouts, tags, versions, webhooks
from apps.prompts.api.serving import PromptCollectionView, PromptServeView

urlpatterns: list = [
    # Serving (GET, ETag/304); other methods on these paths go to the Hub's API views.
    path("prompts/", PromptCollectionView.as_view(), name="prompt-snapshot"),
    path("prompts/<slug:prompt_name>/", PromptServeView.as_view(), name="prompt-serve"),
    # The Hub (apps.prompts.api): versions have no update route.
    path(
        "prompts/<slug:prompt_name>/versions/",
        versions.VersionListCreateView.as_view(),
        name="prompt-versions",
    ),
    path(
        "prompts/<slug:prompt_name>/versions/<int:version_number>/",
        versions.VersionDetailView.as_view(),
        name="prompt-version",
    ),
    path(
        "prompts/<slug:prompt_name>/diff/",
        versions.VersionDiffView.as_view(),
        name="prompt-version-diff",
    ),
    path("prompts/<slug:prompt_name>/tags/", tags.TagListView.as_view(), name="prompt-tags"),
    path(
        "prompts/<slug:prompt_name>/history/", tags.TagHistoryView.as_view(), name="prompt-history"
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/history/",
        tags.TagHistoryView.as_view(),
        name="prompt-tag-history",
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/move/",
        tags.TagMoveView.as_view(),
        name="prompt-tag-move",
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/rollback/",
        tags.TagRollbackView.as_view(),
        name="prompt-tag-rollback",
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/rollout/",
        rollouts.RolloutStartView.as_view(),
        name="prompt-tag-rollout",
    ),
    path("webhooks/", webhooks.WebhookListCreateView.as_view(), name="webhooks"),
    path("webhooks/<int:endpoint_id>/", webhooks.WebhookDetailView.as_view(), name="webhook"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/",
        webhooks.WebhookDeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<int:endpoint_id>/test/", webhooks.WebhookTestView.as_view(), name="webhook-test"
    ),
    path("rollouts/", rollouts.RolloutListView.as_view(), name="rollouts"),
    path("rollouts/<int:rollout_id>/", rollouts.RolloutDetailView.as_view(), name="rollout"),
    path(
        "rollouts/<int:rollout_id>/step/",
        rollouts.RolloutStepView.as_view(),
        name="rollout-step",
    ),
    path(
        "rollouts/<int:rollout_id>/abort/",
        rollouts.RolloutAbortView.as_view(),
        name="rollout-abort",
    ),
    path(
        "rollouts/<int:rollout_id>/guardrail/",
        rollouts.RolloutGuardrailView.as_view(),
        name="rollout-guardrail",
    ),
    path("promotions/", promotions.PromotionListCreateView.as_view(), name="promotions"),
    path(
        "promotions/<int:promotion_id>/", promotions.PromotionDetailView.as_view(), name="promotion"
    ),
    path(
        "promotions/<int:promotion_id>/approve/",
        promotions.PromotionApproveView.as_view(),
        name="promotion-approve",
    ),
    path(
        "promotions/<int:promotion_id>/reject/",
        promotions.PromotionRejectView.as_view(),
        name="promotion-reject",
    ),
    path(
        "promotions/<int:promotion_id>/cancel/",
        promotions.PromotionCancelView.as_view(),
        name="promotion-cancel",
    ),
]
