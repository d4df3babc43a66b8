from django.urls import path

from apps.traces import api, api_scores

urlpatterns = [
    path("traces/", api.TraceListAPI.as_view(), name="traces-list"),
    path("traces/<str:trace_id>/", api.TraceDetailAPI.as_view(), name="traces-detail"),
    path("scores/", api_scores.ScoreListAPI.as_view(), name="scores-list"),
]
