from django.urls import path

from apps.llm import api

urlpatterns = [
    path("providers/", api.ProviderListView.as_view(), name="provider-list"),
    path("providers/defaults/", api.TeamDefaultsView.as_view(), name="provider-defaults"),
    path("providers/<int:provider_id>/", api.ProviderDetailView.as_view(), name="provider-detail"),
    path("providers/<int:provider_id>/test/", api.ProviderTestView.as_view(), name="provider-test"),
]
