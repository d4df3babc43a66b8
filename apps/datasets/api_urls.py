from django.urls import path

from apps.datasets import api

urlpatterns = [
    path("datasets/", api.DatasetListCreateView.as_view(), name="dataset-list"),
    path("datasets/<int:dataset_id>/", api.DatasetDetailView.as_view(), name="dataset-detail"),
    path(
        "datasets/<int:dataset_id>/revisions/",
        api.RevisionListView.as_view(),
        name="dataset-revisions",
    ),
    path(
        "datasets/<int:dataset_id>/examples/",
        api.ExampleListCreateView.as_view(),
        name="dataset-examples",
    ),
    path(
        "datasets/<int:dataset_id>/examples/bulk/",
        api.ExampleBulkCreateView.as_view(),
        name="dataset-examples-bulk",
    ),
    path(
        "datasets/<int:dataset_id>/examples/<uuid:example_id>/",
        api.ExampleDetailView.as_view(),
        name="dataset-example",
    ),
    path("datasets/<int:dataset_id>/upload/", api.UploadView.as_view(), name="dataset-upload"),
    path("datasets/<int:dataset_id>/export/", api.ExportView.as_view(), name="dataset-export"),
]
