from django.urls import path

from apps.datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.datasets_list, name="list"),
    path("<int:dataset_id>/", views.dataset_detail, name="detail"),
    path("<int:dataset_id>/settings/", views.dataset_settings, name="settings"),
    path("<int:dataset_id>/delete/", views.dataset_delete, name="delete"),
    path("<int:dataset_id>/examples/new/", views.example_add, name="example_add"),
    path("<int:dataset_id>/examples/<uuid:example_id>/", views.example_row, name="example_row"),
    path(
        "<int:dataset_id>/examples/<uuid:example_id>/edit/",
        views.example_edit,
        name="example_edit",
    ),
    path(
        "<int:dataset_id>/examples/<uuid:example_id>/delete/",
        views.example_delete,
        name="example_delete",
    ),
    path("<int:dataset_id>/revisions/", views.revisions, name="revisions"),
    path(
        "<int:dataset_id>/revisions/<int:revision>/",
        views.revision_detail,
        name="revision_detail",
    ),
    path("<int:dataset_id>/import/", views.import_upload, name="import"),
    path("<int:dataset_id>/import/<uuid:upload_token>/", views.import_map, name="import_map"),
    path(
        "<int:dataset_id>/import/<uuid:upload_token>/commit/",
        views.import_commit,
        name="import_commit",
    ),
    path(
        "<int:dataset_id>/import/<uuid:upload_token>/discard/",
        views.import_discard,
        name="import_discard",
    ),
    path("<int:dataset_id>/export/", views.export, name="export"),
]
