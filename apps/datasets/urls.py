from django.urls import path

from apps.datasets.views import datasets, examples, exporting, importing, revisions

app_name = "datasets"
urlpatterns = [
    path("", datasets.datasets_list, name="list"),
    path("<int:dataset_id>/", examples.dataset_detail, name="detail"),
    path("<int:dataset_id>/settings/", datasets.dataset_settings, name="settings"),
    path("<int:dataset_id>/delete/", datasets.dataset_delete, name="delete"),
    path("<int:dataset_id>/examples/new/", examples.example_add, name="example_add"),
    path("<int:dataset_id>/examples/<uuid:example_id>/", examples.example_row, name="example_row"),
    path(
        "<int:dataset_id>/examples/<uuid:example_id>/edit/",
        examples.example_edit,
        name="example_edit",
    ),
    path(
        "<int:dataset_id>/examples/<uuid:example_id>/delete/",
        examples.example_delete,
        name="example_delete",
    ),
    path("<int:dataset_id>/revisions/", revisions.revisions, name="revisions"),
    path(
        "<int:dataset_id>/revisions/<int:revision>/",
        revisions.revision_detail,
        name="revision_detail",
    ),
    path("<int:dataset_id>/import/", importing.import_upload, name="import"),
    path("<int:dataset_id>/import/<uuid:upload_token>/", importing.import_map, name="import_map"),
    path(
        "<int:dataset_id>/import/<uuid:upload_token>/commit/",
        importing.import_commit,
        name="import_commit",
    ),
    path(
        "<int:dataset_id>/import/<uuid:upload_token>/discard/",
        importing.import_discard,
        name="import_discard",
    ),
    path("<int:dataset_id>/export/", exporting.export, name="export"),
]
