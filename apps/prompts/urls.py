from django.urls import path

from apps.prompts import views, views_environments

app_name = "prompts"
urlpatterns = [
    path("", views.prompts_list, name="list"),
    path("new/", views.prompt_create, name="create"),
    path("environments/", views_environments.environments, name="environments"),
    path("reviews/", views.reviews, name="reviews"),
    path("editor/preview/", views.editor_preview, name="preview"),
    path("editor/message-row/", views.editor_message_row, name="message_row"),
    path("requests/<int:promotion_id>/", views.promotion_detail, name="promotion"),
    path("requests/<int:promotion_id>/approve/", views.promotion_approve, name="promotion_approve"),
    path("requests/<int:promotion_id>/reject/", views.promotion_reject, name="promotion_reject"),
    path("requests/<int:promotion_id>/cancel/", views.promotion_cancel, name="promotion_cancel"),
    path("<slug:prompt_name>/", views.prompt_detail, name="detail"),
    path("<slug:prompt_name>/settings/", views.prompt_settings, name="settings"),
    path("<slug:prompt_name>/settings/approvers/", views.prompt_approvers, name="approvers"),
    path("<slug:prompt_name>/history/", views.prompt_history, name="history"),
    path("<slug:prompt_name>/move-tag/", views.tag_move_new, name="tag_move_new"),
    path("<slug:prompt_name>/tags/<str:tag_name>/", views.tag_detail, name="tag"),
    path("<slug:prompt_name>/tags/<str:tag_name>/move/", views.tag_move, name="tag_move"),
    path(
        "<slug:prompt_name>/tags/<str:tag_name>/rollback/",
        views.tag_rollback,
        name="tag_rollback",
    ),
    path("<slug:prompt_name>/diff/", views.version_diff_pick, name="diff_pick"),
    path(
        "<slug:prompt_name>/diff/<int:from_number>/<int:to_number>/",
        views.version_diff_view,
        name="diff",
    ),
    path("<slug:prompt_name>/v/<int:version_number>/", views.version_detail, name="version"),
    path("<slug:prompt_name>/v/<int:version_number>/new/", views.version_new, name="version_new"),
    path(
        "<slug:prompt_name>/v/<int:version_number>/promote/",
        views.promotion_create,
        name="promotion_create",
    ),
]
