# OTLP/HTTP ingestion lives at the path exporters default to: /v1/traces.
from django.urls import path

from apps.traces.views.otlp import otlp_traces

urlpatterns = [
    path("v1/traces", otlp_traces, name="otlp_traces"),
]
