from django.urls import path

from apps.traces import api

urlpatterns = [
    path("traces/", api.TraceListAPI.as_view(), name="traces-list"),
    path("traces/<str:trace_id>/", api.TraceDetailAPI.as_view(), name="traces-detail"),
]
