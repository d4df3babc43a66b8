from django.urls import path

from apps.playground import api

urlpatterns = [
    path("playground/runs/", api.PlaygroundRunListView.as_view(), name="playground-run-list"),
    path(
        "playground/runs/<int:playground_run_id>/",
        api.PlaygroundRunDetailView.as_view(),
        name="playground-run-detail",
    ),
]
