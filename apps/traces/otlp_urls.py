# OTLP/HTTP ingestion lives at the path exporters default to: /v1/traces.
urlpatterns: list = []
