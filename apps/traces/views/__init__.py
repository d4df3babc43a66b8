"""Trace views, by subject: the explorer's pages (`explorer`) and the OTLP/HTTP endpoint
exporters send spans to (`otlp`)."""
