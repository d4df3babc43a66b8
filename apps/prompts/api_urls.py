from django.urls import path  # noqa: F401

from apps.prompts import api
from apps.prompts.api_serving import PromptCollectionView, PromptServeView

urlpatterns: list = [
    # Serving (GET, ETag/304); other methods on these paths go to the Hub's API views.
    path("prompts/", PromptCollectionView.as_view(), name="prompt-snapshot"),
    path("prompts/<slug:prompt_name>/", PromptServeView.as_view(), name="prompt-serve"),
    # The Hub (apps.prompts.api): versions have no update route.
    path(
        "prompts/<slug:prompt_name>/versions/",
        api.VersionListCreateView.as_view(),
        name="prompt-versions",
    ),
    path(
        "prompts/<slug:prompt_name>/versions/<int:version_number>/",
        api.VersionDetailView.as_view(),
        name="prompt-version",
    ),
    path("prompts/<slug:prompt_name>/tags/", api.TagListView.as_view(), name="prompt-tags"),
    path(
        "prompts/<slug:prompt_name>/history/", api.TagHistoryView.as_view(), name="prompt-history"
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/history/",
        api.TagHistoryView.as_view(),
        name="prompt-tag-history",
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/move/",
        api.TagMoveView.as_view(),
        name="prompt-tag-move",
    ),
    path(
        "prompts/<slug:prompt_name>/tags/<str:tag_name>/rollback/",
        api.TagRollbackView.as_view(),
        name="prompt-tag-rollback",
    ),
    path("promotions/", api.PromotionListCreateView.as_view(), name="promotions"),
    path("promotions/<int:promotion_id>/", api.PromotionDetailView.as_view(), name="promotion"),
    path(
        "promotions/<int:promotion_id>/approve/",
        api.PromotionApproveView.as_view(),
        name="promotion-approve",
    ),
    path(
        "promotions/<int:promotion_id>/reject/",
        api.PromotionRejectView.as_view(),
        name="promotion-reject",
    ),
    path(
        "promotions/<int:promotion_id>/cancel/",
        api.PromotionCancelView.as_view(),
        name="promotion-cancel",
    ),
]
